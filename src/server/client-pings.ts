import type { EventEmitter } from "node:events";
import type { ServerHttp2Session } from "node:http2";
import type { Server } from "@grpc/grpc-js";
import { startAnswerTimer } from "../util/answer-timer.ts";

interface Watched {
  readonly session: ServerHttp2Session;
  stopTimer: (() => void) | undefined;
}

/**
 * Pings every client connection (HTTP/2 PING) and closes one whose answer
 * does not come in time, so a client whose host vanished loses its streams
 * (and its kept leases run out) instead of keeping them until TCP gives up.
 *
 * grpc-js has this built in, but its timeout is a plain timer: after this
 * process was held up for longer than the timeout (a saturated sidecar,
 * a long garbage collection) the timer fires before the answer waiting in
 * the socket is read, and a live client's connection is closed with every
 * lease on it. Here the timeout never beats an answer already received
 * (startAnswerTimer). One interval serves every connection.
 */
export class ClientPings {
  readonly #intervalMs: number;
  readonly #timeoutMs: number;
  readonly #watched = new Set<Watched>();
  readonly #timer: NodeJS.Timeout;

  constructor(intervalMs: number, timeoutMs: number) {
    this.#intervalMs = intervalMs;
    this.#timeoutMs = timeoutMs;
    this.#timer = setInterval(() => this.#pingAll(), this.#intervalMs);
    this.#timer.unref();
  }

  /**
   * Watches the connections of a bound grpc-js server: those it has and
   * those to come. False when the server does not expose its HTTP/2
   * servers (another grpc-js version): use its own keepalive then.
   */
  attach(server: Server): boolean {
    const http2Servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
    if (!(http2Servers instanceof Map)) return false;
    for (const [http2Server, info] of http2Servers as Map<EventEmitter, { sessions?: Set<ServerHttp2Session> }>) {
      http2Server.on("session", (session: ServerHttp2Session) => this.watch(session));
      for (const session of info.sessions ?? []) this.watch(session);
    }
    return true;
  }

  watch(session: ServerHttp2Session): void {
    const watched: Watched = { session, stopTimer: undefined };
    this.#watched.add(watched);
    session.once("close", () => {
      watched.stopTimer?.();
      this.#watched.delete(watched);
    });
  }

  /** Connections watched now (tests). */
  get size(): number {
    return this.#watched.size;
  }

  close(): void {
    clearInterval(this.#timer);
    for (const watched of this.#watched) watched.stopTimer?.();
    this.#watched.clear();
  }

  #pingAll(): void {
    for (const watched of this.#watched) if (watched.stopTimer === undefined) this.#ping(watched);
  }

  #ping(watched: Watched): void {
    const { session } = watched;
    if (session.closed || session.destroyed) return;
    let sent = false;
    try {
      sent = session.ping((error) => {
        watched.stopTimer?.();
        watched.stopTimer = undefined;
        if (error) session.destroy();
      });
    } catch {
      sent = false;
    }
    // A ping that cannot be sent means a connection that cannot carry anything.
    if (!sent) {
      session.destroy();
      return;
    }
    watched.stopTimer = startAnswerTimer(this.#timeoutMs, () => {
      watched.stopTimer = undefined;
      session.destroy();
    });
  }
}
