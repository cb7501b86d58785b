import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { ListenError } from "../config/listen-error.ts";
import type { Logger } from "../log/logger.ts";
import type { SidecarStatus } from "../protocol/status-document.ts";

/** What the admin endpoints read; each is called per request, never cached. */
export interface AdminSources {
  /** Prometheus text exposition of the sidecar's registry. */
  metrics(): Promise<{ contentType: string; text: string }>;
  status(): SidecarStatus;
  /** False while shutting down, even if a quorum answers. */
  ready(): boolean;
}

export interface AdminServer {
  /** host:port actually bound (port 0 resolved). */
  readonly address: string;
  readonly port: number;
  close(): Promise<void>;
}

/**
 * The admin HTTP listener, apart from the gRPC port so that scrapers and
 * kubelet probes need no gRPC and never compete with lock traffic:
 * GET /metrics, /healthz (the process is alive), /readyz (a quorum answers),
 * /status (JSON: readiness and instance states).
 */
export async function startAdminServer(listen: string, sources: AdminSources, logger: Logger): Promise<AdminServer> {
  const server = createServer((req, res) => {
    route(req, res, sources).catch((error: unknown) => {
      logger.error({ err: error, path: req.url }, "admin endpoint failed");
      if (!res.headersSent) send(res, 500, "text/plain; charset=utf-8", "internal error\n");
      else res.destroy();
    });
  });
  // Probes and scrapes are short; an idle keep-alive socket must not delay shutdown.
  server.keepAliveTimeout = 5000;
  const separator = listen.lastIndexOf(":");
  const host = listen.slice(0, separator).replace(/^\[(.*)\]$/, "$1");
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(Number(listen.slice(separator + 1)), host, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (error) {
    throw new ListenError(listen, "LOCK_ADMIN_LISTEN / --admin-listen", error);
  }
  const bound = server.address();
  const port = typeof bound === "object" && bound ? bound.port : 0;
  return {
    address: `${listen.slice(0, separator)}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function route(req: IncomingMessage, res: ServerResponse, sources: AdminSources): Promise<void> {
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.setHeader("allow", "GET, HEAD");
    send(res, 405, "text/plain; charset=utf-8", "method not allowed\n");
    return;
  }
  const path = (req.url ?? "/").split("?", 1)[0];
  switch (path) {
    case "/metrics": {
      const { contentType, text } = await sources.metrics();
      send(res, 200, contentType, text);
      return;
    }
    case "/healthz":
      send(res, 200, "text/plain; charset=utf-8", "ok\n");
      return;
    case "/readyz": {
      if (sources.ready()) {
        send(res, 200, "text/plain; charset=utf-8", "ready\n");
        return;
      }
      const { reachable, quorum, instances } = sources.status();
      const why =
        reachable >= quorum
          ? "shutting down"
          : `${reachable} of ${instances.length} instances reachable (need ${quorum})`;
      send(res, 503, "text/plain; charset=utf-8", `not ready: ${why}\n`);
      return;
    }
    case "/status":
      send(res, 200, "application/json", `${JSON.stringify(sources.status())}\n`);
      return;
    default:
      send(res, 404, "text/plain; charset=utf-8", "not found: try /metrics, /healthz, /readyz or /status\n");
  }
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, {
    "content-type": contentType,
    "content-length": Buffer.byteLength(body),
    "cache-control": "no-store",
  });
  res.end(res.req.method === "HEAD" ? undefined : body);
}
