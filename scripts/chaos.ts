// `npm run chaos -- --seed 1 --duration 20s`: a seeded fault campaign against
// real instances and sidecar processes; the harness lives in test/chaos/.
import { runChaosCli } from "../test/chaos/cli.ts";

process.exit(await runChaosCli(process.argv.slice(2)));
