import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CONFIG_DOC_PATH, formatDefault, renderConfigurationDoc, STALE_MESSAGE } from "../../scripts/config-docs.ts";
import { SETTINGS } from "../../src/config/options.ts";

/** docs/configuration.md and the README's short table must say what src/config/options.ts says. */
describe("configuration reference", () => {
  it("docs/configuration.md is what the settings table gives (else: npm run docs:config)", () => {
    const committed = readFileSync(CONFIG_DOC_PATH, "utf8");
    expect(committed === renderConfigurationDoc(), STALE_MESSAGE).toBe(true);
  });

  it("documents every setting, with its flag", () => {
    const doc = renderConfigurationDoc();
    for (const s of SETTINGS) {
      expect(doc).toContain(`### ${s.env}\n`);
      expect(doc).toContain(`\`--${s.flag}\``);
    }
  });

  it("the README's settings table names real settings, with their flags and defaults", () => {
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    const rows = readme
      .split("\n")
      .filter((line) => line.startsWith("| `LOCK_"))
      .map((line) => line.split("|").map((cell) => cell.trim().replaceAll("`", "")));
    expect(rows.length).toBeGreaterThanOrEqual(6);
    for (const [, env, flag, defaultText] of rows) {
      const setting = SETTINGS.find((s) => s.env === env);
      if (!setting) throw new Error(`README.md names ${env}, which is not a setting`);
      expect([env, flag, defaultText], `README.md's row for ${env}`).toEqual([
        setting.env,
        `--${setting.flag}`,
        formatDefault(setting),
      ]);
    }
  });
});
