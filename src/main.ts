import { ConfigError, helpText, loadConfig } from "./config/load-config.ts";
import { createLogger } from "./log/logger.ts";
import { startSidecar } from "./server/sidecar.ts";

const argv = process.argv.slice(2);
if (argv.includes("--help") || argv.includes("-h")) {
  console.log(helpText());
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

try {
  const sidecar = await startSidecar(options, { logger });
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (++signals > 1) {
      logger.warn({ signal }, "second signal: exiting without finishing shutdown");
      process.exit(1);
    }
    logger.info({ signal }, "signal received");
    void sidecar.stop().then(() => process.exit(0));
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
} catch (error) {
  logger.fatal({ err: error }, "start-up failed");
  process.exit(1);
}
