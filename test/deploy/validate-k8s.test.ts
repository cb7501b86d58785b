import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { validateDirectories, validateManifests, type Finding, type Manifest } from "../../scripts/validate-k8s.ts";

const DIR = "deploy/kubernetes";

/** deploy/kubernetes must pass, and each kind of mistake must be caught. */
describe("scripts/validate-k8s.ts", () => {
  let good: Manifest[];

  beforeAll(async () => {
    const { manifests, findings } = await validateDirectories([DIR]);
    expect(findings).toEqual([]);
    good = manifests;
  });

  it("accepts the example manifests (ConfigMap, Secret, Deployment, Service)", () => {
    expect(good.map((m) => m.doc["kind"]).sort()).toEqual([
      "ConfigMap",
      "Deployment",
      "Kustomization",
      "Secret",
      "Service",
    ]);
  });

  /** A copy of the manifests with the Deployment (and ConfigMap) changed by `mutate`. */
  const variant = (mutate: (deployment: any, configMap: any) => void): Manifest[] => {
    const copy = structuredClone(good);
    mutate(copy.find((m) => m.doc["kind"] === "Deployment")!.doc, copy.find((m) => m.doc["kind"] === "ConfigMap")!.doc);
    return copy;
  };
  const sidecarOf = (d: any): any => d.spec.template.spec.initContainers[0];
  const messages = (findings: Finding[], check: Finding["check"]): string =>
    findings
      .filter((f) => f.check === check)
      .map((f) => f.message)
      .join("\n");

  it.each([
    ["a wrong type", (d: any) => (d.spec.replicas = "two"), /^\/spec\/replicas must be integer/],
    [
      "a missing required field",
      (d: any) => delete d.spec.template.spec.containers[0].name,
      /^\/spec\/template\/spec\/containers\/0 must have required property name/,
    ],
    [
      "a value outside an enum",
      (d: any) => (d.spec.template.spec.containers[0].imagePullPolicy = "Sometimes"),
      /imagePullPolicy must be equal to one of the allowed values/,
    ],
    [
      "an unknown apiVersion",
      (d: any) => (d.apiVersion = "apps/v1beta9"),
      /unknown apiVersion\/kind apps\/v1beta9 Deployment/,
    ],
  ])("rejects a schema violation: %s", async (_what, mutate, expected) => {
    const findings = await validateManifests(variant(mutate), { strict: false });
    expect(messages(findings, "schema")).toMatch(expected);
  });

  it("rejects unknown fields (strict), which the JSON schemas alone let through", async () => {
    const broken = variant((d) => {
      const sidecar = sidecarOf(d);
      sidecar.readinesProbe = sidecar.readinessProbe;
      sidecar.securityContext.readOnlyRootFS = true;
    });
    const findings = await validateManifests(broken);
    const strict = messages(findings, "strict");
    expect(strict).toMatch(/'readinesProbe' does not exist/);
    expect(strict).toMatch(/'readOnlyRootFS' does not exist/);
    expect(
      findings.filter((f) => f.check === "strict").every((f) => f.file === "deploy/kubernetes/deployment.yaml"),
    ).toBe(true);
  });

  it("rejects breaches of the sidecar's rules", async () => {
    const findings = await validateManifests(
      variant((d, cm) => {
        const pod = d.spec.template.spec;
        pod.terminationGracePeriodSeconds = 10;
        delete sidecarOf(d).restartPolicy;
        sidecarOf(d).readinessProbe.httpGet.path = "/healthz";
        delete sidecarOf(d).securityContext.capabilities;
        sidecarOf(d).securityContext.readOnlyRootFilesystem = false;
        delete pod.containers[0].resources.limits;
        cm.data.LOCK_INSTANCES = "redis://:secret@x:6379";
        cm.data.LOCK_DEFALT_TTL = "10s";
      }),
      { strict: false },
    );
    const policy = messages(findings, "policy");
    expect(policy).toMatch(/terminationGracePeriodSeconds 10 is too short for LOCK_SHUTDOWN_GRACE 10s: at least 15 s/);
    expect(policy).toMatch(/native sidecar: an initContainers entry with restartPolicy: Always/);
    expect(policy).toMatch(/readinessProbe must get \/readyz/);
    expect(policy).toMatch(/capabilities.drop must include ALL/);
    expect(policy).toMatch(/redlock-sidecar: securityContext.readOnlyRootFilesystem must be true/);
    expect(policy).toMatch(/container app: resources.limits.memory is required/);
    expect(policy).toMatch(/LOCK_INSTANCES carries passwords: put it in a Secret/);
    expect(policy).toMatch(/LOCK_DEFALT_TTL is not a setting of the sidecar/);
  });

  it("rejects settings the sidecar itself refuses", async () => {
    const findings = await validateManifests(
      variant((_d, cm) => (cm.data.LOCK_DEFAULT_TTL = "ten seconds")),
      { strict: false },
    );
    expect(messages(findings, "policy")).toMatch(/sidecar settings rejected by the sidecar: .*LOCK_DEFAULT_TTL/);
  });

  describe("as a command", () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), "k8s-broken-"));
      cpSync(DIR, dir, { recursive: true });
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    const run = (args: string[]) =>
      spawnSync(process.execPath, ["scripts/validate-k8s.ts", ...args], { encoding: "utf8" });

    it("exits 0 on deploy/kubernetes", () => {
      const result = run([]);
      expect(result.stderr).toBe("");
      expect(result.status).toBe(0);
    });

    it("exits 1 on a deliberately broken manifest, naming the file and the field", () => {
      const path = join(dir, "deployment.yaml");
      writeFileSync(
        path,
        readFileSync(path, "utf8")
          .replace("replicas: 2", "replicas: 2\n  replicaz: 3")
          .replace("terminationGracePeriodSeconds: 30", 'terminationGracePeriodSeconds: "30"'),
      );
      writeFileSync(join(dir, "extra.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: stray}\n");
      const result = run([dir]);
      expect(result.status).toBe(1);
      expect(result.stderr).toMatch(
        /deployment.yaml Deployment\/example-app \[schema\] \/spec\/template\/spec\/terminationGracePeriodSeconds must be integer/,
      );
      expect(result.stderr).toMatch(/deployment.yaml Deployment\/example-app \[strict\] .*'replicaz' does not exist/);
      expect(result.stderr).toMatch(/\[kustomization\] extra.yaml is not listed in resources/);
    });
  });
});
