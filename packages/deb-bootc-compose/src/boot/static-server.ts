import { createReadStream } from "node:fs";
import { realpath, stat } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join, sep } from "node:path";

/**
 * A static file server on 127.0.0.1 for the boot tests: the published OSTree repository, served to the
 * guest through QEMU's guestfwd. GET and HEAD of regular files under the root only (a path or a symlink
 * leading out of it is a 404); it counts the bytes it sends, for the update-size figures.
 */
export interface StaticServer {
  port: number;
  /** Body bytes sent so far, and the requests (method, path, status, bytes). */
  stats(): { bytes: number; requests: Array<{ method: string; path: string; status: number; bytes: number }> };
  close(): Promise<void>;
}

export async function serveDirectory(root: string): Promise<StaticServer> {
  const top = await realpath(root);
  let bytes = 0;
  const requests: Array<{ method: string; path: string; status: number; bytes: number }> = [];
  const server: Server = createServer((req, res) => {
    const method = req.method ?? "GET";
    const path = decodeURIComponent((req.url ?? "/").split("?")[0]!);
    const done = (status: number, sent = 0) => requests.push({ method, path, status, bytes: sent });
    void (async () => {
      if (method !== "GET" && method !== "HEAD") {
        res.writeHead(405).end();
        return done(405);
      }
      const file = await realpath(join(top, path)).catch(() => undefined);
      const info = file && (file === top || file.startsWith(top + sep)) ? await stat(file).catch(() => undefined) : undefined;
      if (!file || !info?.isFile()) {
        res.writeHead(404).end();
        return done(404);
      }
      res.writeHead(200, { "content-length": info.size, "content-type": "application/octet-stream" });
      if (method === "HEAD") {
        res.end();
        return done(200);
      }
      let sent = 0;
      const stream = createReadStream(file);
      stream.on("data", (chunk) => {
        sent += (chunk as Buffer).length;
      });
      stream.on("end", () => {
        bytes += sent;
        done(200, sent);
      });
      stream.on("error", () => res.destroy());
      stream.pipe(res);
    })().catch(() => res.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    stats: () => ({ bytes, requests: [...requests] }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
