import type { FastifyInstance, FastifyReply } from "fastify";

/** No response of the API is ever sniffed into something a browser would run. */
export function addSecurityHeaders(app: FastifyInstance): void {
  app.addHook("onSend", async (_request, reply, payload) => {
    reply.header("x-content-type-options", "nosniff");
    return payload;
  });
}

/**
 * Files served from the web UI's origin are inert: a sandbox policy gives a rendered document an opaque
 * origin of its own (no cookies, no scripts), and files a browser would render are attachments.
 */
export function asDownload(reply: FastifyReply, disposition: "inline" | "attachment", fileName?: string): void {
  reply.header("content-security-policy", "sandbox; default-src 'none'");
  reply.header("content-disposition", fileName ? `${disposition}; filename="${fileName}"` : disposition);
}
