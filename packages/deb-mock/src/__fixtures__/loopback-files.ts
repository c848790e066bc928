import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join, normalize } from "node:path";
import { readFile } from "node:fs/promises";

/** A directory served over HTTP on 127.0.0.1 (an APT repository for the system tests). */
export interface LoopbackFiles {
  port: number;
  /** http://127.0.0.1:PORT/ */
  url: string;
  /** The path of every request received, in order. */
  requests: string[];
  close(): Promise<void>;
}

export async function serveLoopbackFiles(root: string): Promise<LoopbackFiles> {
  const requests: string[] = [];
  const server = createServer((request, response) => {
    const path = normalize(decodeURIComponent(new URL(request.url ?? "/", "http://x").pathname));
    requests.push(path);
    readFile(join(root, path)).then(
      (data) => response.end(data),
      () => {
        response.statusCode = 404;
        response.end();
      },
    );
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}/`,
    requests,
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
}
