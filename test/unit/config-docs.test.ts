import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CONFIG_DOC_PATH, renderConfigurationDoc, STALE_MESSAGE } from "../../scripts/config-docs.ts";
import { SETTINGS } from "../../src/config/options.ts";

/** docs/configuration.md must say what src/config/options.ts says. */
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
});
