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
