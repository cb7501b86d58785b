#!/usr/bin/env node
import { runLockctl } from "./run-lockctl.ts";

// The exit code is set rather than forced, so pending output is flushed first.
process.exitCode = await runLockctl(process.argv.slice(2), {
  env: process.env,
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
  stderrIsTTY: process.stderr.isTTY === true,
});
