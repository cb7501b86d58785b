import { TimeoutError } from "./abort.ts";

/**
 * How errors from libraries appear in our messages: the reason's first line
 * only, kept short (OpenSSL and parser messages never carry secrets, but can
 * run long), and a file error by its code (ENOENT, EACCES).
 */
export function errorReason(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0]!.slice(0, 200);
}

/** The system error code of a failed file operation, if it has one. */
export function errorCode(error: unknown): string | undefined {
  return error instanceof Error && "code" in error ? String(error.code) : undefined;
}

/** The socket error codes we put in our own words. */
const SOCKET_ERRORS =
  /\b(ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|EADDRINUSE|EADDRNOTAVAIL|EACCES)\b/;

/**
 * A socket error code (ECONNREFUSED, EADDRINUSE) carried by the error, its
 * cause, or written in its message: grpc-js keeps only the text.
 */
export function systemErrorCode(error: unknown): string | undefined {
  const code = errorCode(error);
  if (code !== undefined && SOCKET_ERRORS.test(code)) return code;
  const cause =
    error instanceof Error && error.cause !== undefined && error.cause !== error
      ? systemErrorCode(error.cause)
      : undefined;
  return cause ?? SOCKET_ERRORS.exec(error instanceof Error ? error.message : String(error))?.[1];
}

/** Why a listen address could not be bound, in words an operator acts on. */
export function listenErrorText(error: unknown): string {
  switch (systemErrorCode(error)) {
    case "EADDRINUSE":
      return "the address is already in use (is another sidecar running on this host?); choose a free host:port";
    case "EACCES":
      return "permission denied (ports below 1024 need privileges); choose another port";
    case "EADDRNOTAVAIL":
      return "no interface of this host has that address";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "the host name does not resolve";
  }
  if (/name resolution failed/i.test(errorReason(error))) return "the host name does not resolve";
  return errorReason(error);
}

/**
 * Why a connection to `target` (an instance shown as redis://host:port, or
 * a sidecar's host:port) failed, from the error of the connection attempt;
 * undefined when the error says nothing we can put in our words.
 */
export function connectionErrorText(target: string, error: unknown): string | undefined {
  const code = systemErrorCode(error);
  switch (code) {
    case "ECONNREFUSED":
      return `connection refused by ${target}`;
    case "ECONNRESET":
    case "EPIPE":
      return `connection reset by ${target}`;
    case "ETIMEDOUT":
      return `no answer from ${target} while connecting`;
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return `the host of ${target} does not resolve`;
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return `${target} is unreachable (${code})`;
  }
  const reason = errorReason(error);
  if (/name resolution failed/i.test(reason)) return `the host of ${target} does not resolve`;
  // Redis refusing the connection's AUTH or HELLO.
  if (/^(WRONGPASS|NOAUTH|NOPERM)\b/.test(reason)) return `${target} refused the credentials: ${reason}`;
  // Certificate and handshake failures (CERT_HAS_EXPIRED, ERR_TLS_CERT_ALTNAME_INVALID, ...).
  const tlsCode = errorCode(error);
  if (tlsCode !== undefined && /CERT|TLS|SSL|SIGNATURE|ISSUER/.test(tlsCode))
    return `TLS with ${target} failed: ${reason}`;
  return undefined;
}

/** ioredis' words for "this call was not sent: there is no connection". */
const NOT_CONNECTED = [
  /^Stream isn't writeable/,
  /^Connection is closed/,
  /^Reached the max retries per request limit/,
];

/**
 * A failed call to an instance in our words: "connection refused by
 * redis://host:port" rather than ioredis' "Stream isn't writeable and
 * enableOfflineQueue options is false". `connectionError` is the last error
 * of the instance's connection, which says why it is not connected.
 */
export function instanceErrorText(instance: string, error: unknown, connectionError?: unknown): string {
  const reason = errorReason(error);
  if (NOT_CONNECTED.some((pattern) => pattern.test(reason))) {
    const why = connectionError === undefined ? undefined : connectionErrorText(instance, connectionError);
    return why ?? `not connected to ${instance}`;
  }
  if (error instanceof TimeoutError || /^Command timed out/.test(reason)) return `${instance} did not answer in time`;
  return connectionErrorText(instance, error) ?? `${instance}: ${reason}`;
}

/**
 * A gRPC call's failure detail without grpc-js' scaffolding ("No connection
 * established. Last error: Error: connect ECONNREFUSED 127.0.0.1:50051.
 * Resolution note: "): what happened to the connection, else the detail
 * without an empty resolution note.
 */
export function grpcDetailText(details: string): string {
  const connect = /connect (E[A-Z_]+) (\S+?)\.?(?:\s|$)/.exec(details);
  const why = connect ? connectionErrorText(connect[2]!, connect[1]!) : undefined;
  if (why !== undefined) return why;
  const unresolved = /^Name resolution failed for target (?:dns:)?(\S+)/.exec(details);
  if (unresolved) return `the host of ${unresolved[1]!.replace(/^\/+/, "")} does not resolve`;
  return details.replace(/\.?\s*Resolution note:\s*$/, "").trim();
}
