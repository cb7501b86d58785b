import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

/**
 * The buf.gen.<language>.yaml examples for users need the network (remote
 * plugins), so CI cannot run them; it checks their shape instead, and that
 * none of them would overwrite the committed TypeScript code in gen/.
 */
describe.each(["go", "python", "java"])("buf.gen.%s.yaml", (language) => {
  const template = parse(readFileSync(`buf.gen.${language}.yaml`, "utf8")) as {
    version: string;
    clean?: boolean;
    inputs: { directory: string }[];
    plugins: { remote?: string; local?: string; out: string }[];
  };

  it("is a buf v2 template over proto/ with remote plugins", () => {
    expect(template.version).toBe("v2");
    expect(template.inputs).toEqual([{ directory: "proto" }]);
    expect(template.plugins.length).toBeGreaterThanOrEqual(2);
    for (const plugin of template.plugins)
      expect(plugin.remote).toMatch(/^buf\.build\/(protocolbuffers|grpc)\/[a-z]+$/);
    expect(template.plugins.some((p) => p.remote?.startsWith("buf.build/grpc/"))).toBe(true);
  });

  it("writes outside gen/ and never cleans", () => {
    expect(template.clean ?? false).toBe(false);
    for (const plugin of template.plugins) expect(plugin.out).toBe(`gen-clients/${language}`);
  });
});
