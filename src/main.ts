import { format } from "node:util";
import { setLogger } from "@grpc/grpc-js";
import { ListenError } from "./config/listen-error.ts";
import { ConfigError, helpText, loadConfig } from "./config/load-config.ts";
import { packageVersion } from "./config/version.ts";
import { createLogger } from "./log/logger.ts";
import { startSidecar } from "./sidecar.ts";
import { startTracing } from "./tracing/start-tracing.ts";

const argv = process.argv.slice(2);
if (argv.includes("--help") || argv.includes("-h")) {
  console.log(helpText());
  process.exit(0);
}
if (argv.includes("--version")) {
  console.log(`redlock-sidecar ${packageVersion()}`);
  process.exit(0);
}

let options;
try {
  options = loadConfig(process.env, argv);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(`redlock-sidecar: invalid configuration: ${error.message}`);
  process.exit(2);
}
const logger = createLogger(options.logLevel);
// grpc-js writes its own lines to stderr ("E No address added ..."); what
// matters reaches us as errors, said in our words, so its lines are debug logs.
const grpcLine = (message?: unknown, ...rest: unknown[]): void =>
  logger.debug({ source: "grpc-js" }, format(message, ...rest));
setLogger({ error: grpcLine, info: grpcLine, debug: grpcLine });

try {
  // Undefined unless the OTEL_* variables ask for traces: then no OpenTelemetry SDK is even loaded.
  const tracing = await startTracing(process.env, logger);
  const sidecar = await startSidecar(options, { logger, tracing });
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (++signals > 1) {
      logger.warn({ signal }, "second signal: exiting without finishing shutdown");
      process.exit(1);
    }
    logger.info({ signal }, "signal received");
    void sidecar
      .stop()
      // The last spans go out before the process does.
      .then(() => tracing?.shutdown())
      .catch((error: unknown) => logger.warn({ err: error }, "sending the last spans failed"))
      .then(() => process.exit(0));
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
} catch (error) {
  // A setting that does not work here (a taken port, an unusable certificate)
  // needs one line naming it, not a stack trace.
  if (error instanceof ConfigError) {
    console.error(`redlock-sidecar: invalid configuration: ${error.message}`);
    process.exit(2);
  }
  if (error instanceof ListenError) {
    console.error(`redlock-sidecar: ${error.message}`);
    process.exit(1);
  }
  logger.fatal({ err: error }, "start-up failed");
  process.exit(1);
}
