/**
 * Offline validation of the Kubernetes manifests in deploy/kubernetes (or
 * the directories given), with no cluster and no network:
 *
 * 1. schema: every document is validated against the Kubernetes v1.36 API
 *    schema of its apiVersion/kind. The validators come from the
 *    `kubernetes-models` npm package, which compiles Kubernetes' own OpenAPI
 *    definitions into ajv validate functions (types, required fields, enums,
 *    formats);
 * 2. strict: unknown fields (a typo such as `readinesProbe` passes a JSON
 *    schema check, since Kubernetes' schemas allow extra properties) are
 *    found by type checking each document, as an object literal, against the
 *    package's TypeScript interfaces generated from the same definitions;
 * 3. kustomization: every listed resource exists and every manifest is listed;
 * 4. this project's rules for the sidecar: a native sidecar with the three
 *    probes, settings the sidecar accepts, passwords only in a Secret,
 *    resources, a locked-down securityContext, and a termination grace
 *    period longer than LOCK_SHUTDOWN_GRACE.
 *
 *   node scripts/validate-k8s.ts [DIR ...]      exit 1 on any finding
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { ConfigError, loadConfig } from "../src/config/load-config.ts";
import { SETTINGS } from "../src/config/options.ts";
import { parseDurationMs } from "../src/config/duration.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

export interface Finding {
  /** Path of the manifest, relative to the repository. */
  file: string;
  /** `Kind/name` of the document, or "" for file-level findings. */
  resource: string;
  check: "yaml" | "schema" | "strict" | "kustomization" | "policy";
  message: string;
}

export interface Manifest {
  file: string;
  index: number;
  doc: Record<string, unknown>;
}

type Obj = Record<string, unknown>;

const isObj = (value: unknown): value is Obj => typeof value === "object" && value !== null && !Array.isArray(value);
const objs = (value: unknown): Obj[] => (Array.isArray(value) ? value.filter(isObj) : []);
const str = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined);
const resourceOf = (m: Manifest): string =>
  `${str(m.doc["kind"]) ?? "?"}/${str((m.doc["metadata"] as Obj | undefined)?.["name"]) ?? "?"}`;

/** Validates every manifest directory given (each with a kustomization.yaml). */
export async function validateDirectories(
  dirs: readonly string[],
  options: { strict?: boolean } = {},
): Promise<{ manifests: Manifest[]; findings: Finding[] }> {
  const manifests: Manifest[] = [];
  const findings: Finding[] = [];
  for (const dir of dirs) {
    const loaded = loadDirectory(dir);
    manifests.push(...loaded.manifests);
    findings.push(...loaded.findings);
  }
  findings.push(...(await validateManifests(manifests, options)));
  return { manifests, findings };
}

/** Schema, strict and policy checks of parsed manifests. */
export async function validateManifests(
  manifests: readonly Manifest[],
  options: { strict?: boolean } = {},
): Promise<Finding[]> {
  const findings: Finding[] = [];
  for (const m of manifests) findings.push(...(await schemaFindings(m)));
  if (options.strict ?? true) findings.push(...strictFindings(manifests));
  findings.push(...policyFindings(manifests));
  return findings;
}

// --- loading -------------------------------------------------------------------

function loadDirectory(dir: string): { manifests: Manifest[]; findings: Finding[] } {
  const manifests: Manifest[] = [];
  const findings: Finding[] = [];
  const kustomizationPath = join(dir, "kustomization.yaml");
  const yamlFiles = readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f) && f !== "kustomization.yaml")
    .sort();
  let listed: string[] = yamlFiles;
  if (existsSync(kustomizationPath)) {
    const k = parseFile(kustomizationPath, findings)[0];
    const add = (message: string): void =>
      void findings.push({ file: rel(kustomizationPath), resource: "Kustomization", check: "kustomization", message });
    if (!k) {
      add("empty kustomization");
    } else {
      if (k["apiVersion"] !== "kustomize.config.k8s.io/v1beta1" || k["kind"] !== "Kustomization")
        add("apiVersion/kind must be kustomize.config.k8s.io/v1beta1 Kustomization");
      const resources = k["resources"];
      if (!Array.isArray(resources) || resources.some((r) => typeof r !== "string"))
        add("resources must be a list of file names");
      listed = Array.isArray(resources) ? resources.filter((r): r is string => typeof r === "string") : [];
      for (const r of listed) if (!existsSync(join(dir, r))) add(`resource ${r} does not exist`);
      for (const f of yamlFiles) if (!listed.includes(f)) add(`${f} is not listed in resources`);
      const images = objs(k["images"]).map((i) => str(i["name"]));
      manifests.push({
        file: rel(kustomizationPath),
        index: 0,
        doc: { kind: "Kustomization", metadata: { name: "kustomization" }, images },
      });
    }
  } else {
    findings.push({ file: rel(dir), resource: "", check: "kustomization", message: "no kustomization.yaml" });
  }
  for (const f of listed) {
    const path = join(dir, f);
    if (!existsSync(path)) continue;
    parseFile(path, findings).forEach((doc, index) => manifests.push({ file: rel(path), index, doc }));
  }
  return { manifests, findings };
}

/** Path relative to the repository when inside it, else absolute. */
function rel(path: string): string {
  const r = relative(ROOT, resolve(path));
  return r.startsWith("..") ? resolve(path) : r;
}

function parseFile(path: string, findings: Finding[]): Obj[] {
  const file = rel(path);
  const docs: Obj[] = [];
  for (const document of parseAllDocuments(readFileSync(path, "utf8"))) {
    for (const error of document.errors) findings.push({ file, resource: "", check: "yaml", message: error.message });
    const value: unknown = document.toJS();
    if (value === null || value === undefined) continue;
    if (!isObj(value)) findings.push({ file, resource: "", check: "yaml", message: "a document is not a mapping" });
    else docs.push(value);
  }
  return docs;
}

// --- 1. schema ---------------------------------------------------------------------

interface ModelClass {
  apiVersion: string;
  kind: string;
  new (data: unknown): { validate(): void };
}

const isKubernetesObject = (m: Manifest): boolean => !m.file.endsWith("kustomization.yaml");

async function modelFor(apiVersion: string, kind: string): Promise<ModelClass | undefined> {
  if (!/^([a-z0-9.-]+\/)?v[0-9a-z]+$/.test(apiVersion)) return undefined;
  let module: Record<string, unknown>;
  try {
    module = (await import(`kubernetes-models/${apiVersion}`)) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const candidate: unknown = module[kind];
  if (typeof candidate !== "function") return undefined;
  const model = candidate as unknown as ModelClass;
  return model.kind === kind && model.apiVersion === apiVersion ? model : undefined;
}

async function schemaFindings(m: Manifest): Promise<Finding[]> {
  if (!isKubernetesObject(m)) return [];
  const finding = (message: string): Finding => ({ file: m.file, resource: resourceOf(m), check: "schema", message });
  const apiVersion = str(m.doc["apiVersion"]);
  const kind = str(m.doc["kind"]);
  if (!apiVersion || !kind) return [finding("apiVersion and kind are required")];
  const Model = await modelFor(apiVersion, kind);
  if (!Model) return [finding(`unknown apiVersion/kind ${apiVersion} ${kind} (Kubernetes v1.36 API)`)];
  try {
    new Model(m.doc).validate();
    return [];
  } catch (error) {
    const errors = (error as { errors?: { instancePath?: string; message?: string; params?: unknown }[] }).errors;
    if (!Array.isArray(errors)) return [finding(error instanceof Error ? error.message : String(error))];
    return errors.map((e) =>
      finding(`${e.instancePath || "/"} ${e.message ?? "invalid"} ${JSON.stringify(e.params ?? {})}`),
    );
  }
}

// --- 2. strict: unknown fields -----------------------------------------------------

/**
 * Checks that every field of every document is defined by the Kubernetes
 * API: for each object in a document, one statement
 * `({ key: any, ... }) satisfies <the type at that path>` goes into a
 * temporary module under .tmp/ (so that `kubernetes-models` resolves from
 * node_modules), which the repository's TypeScript then type checks. Excess
 * property checks report the fields the API does not define (the first one
 * of each object); values are typed `any`, their types are the schema's
 * business.
 */
function strictFindings(manifests: readonly Manifest[]): Finding[] {
  const statements: { code: string; m: Manifest; path: string }[] = [];
  const imports = new Map<string, string>();
  for (const m of manifests) {
    if (!isKubernetesObject(m)) continue;
    const apiVersion = str(m.doc["apiVersion"]);
    const kind = str(m.doc["kind"]);
    if (!apiVersion || !kind || !/^[A-Za-z0-9]+$/.test(kind) || !/^[a-z0-9./-]+$/.test(apiVersion)) continue;
    const key = `kubernetes-models/${apiVersion}/${kind}`;
    if (!imports.has(key)) imports.set(key, `T${imports.size}`);
    const visit = (value: unknown, type: string, path: string): void => {
      if (Array.isArray(value)) {
        value.forEach((item, i) => visit(item, `NonNullable<${type}>[number]`, `${path}/${i}`));
        return;
      }
      if (!isObj(value)) return;
      const fields = Object.keys(value).map((k) => `${/^[A-Za-z_$][\w$]*$/.test(k) ? k : JSON.stringify(k)}: x`);
      statements.push({ code: `({ ${fields.join(", ")} }) satisfies NonNullable<${type}>;`, m, path: path || "/" });
      for (const [k, child] of Object.entries(value))
        if (typeof child === "object" && child !== null)
          visit(child, `NonNullable<${type}>[${JSON.stringify(k)}]`, `${path}/${k}`);
    };
    visit(m.doc, imports.get(key)!, "");
  }
  if (statements.length === 0) return [];
  const header = [...imports].map(
    ([key, alias]) => `import type { I${key.slice(key.lastIndexOf("/") + 1)} as ${alias} } from "${key}";`,
  );
  header.push("declare const x: any;");
  const tmpRoot = join(ROOT, ".tmp");
  mkdirSync(tmpRoot, { recursive: true });
  const dir = mkdtempSync(join(tmpRoot, "k8s-strict-"));
  try {
    writeFileSync(
      join(dir, "manifests.ts"),
      [...header, ...statements.map((s) => s.code), "export {};", ""].join("\n"),
    );
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          module: "nodenext",
          moduleResolution: "nodenext",
          target: "es2024",
          types: [],
          skipLibCheck: true,
        },
        files: ["manifests.ts"],
      }),
    );
    const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
    const run = spawnSync(process.execPath, [tsc, "-p", dir, "--pretty", "false"], { encoding: "utf8", cwd: ROOT });
    if (run.status === 0) return [];
    const findings: Finding[] = [];
    for (const line of `${run.stdout}${run.stderr}`.split("\n")) {
      const match = /manifests\.ts\((\d+),\d+\): error (TS\d+: .*)$/.exec(line);
      const statement = match ? statements[Number(match[1]) - 1 - header.length] : undefined;
      if (match && statement) {
        findings.push({
          file: statement.m.file,
          resource: resourceOf(statement.m),
          check: "strict",
          message: `${statement.path}: ${match[2]}`,
        });
      } else if (/error TS/.test(line)) {
        findings.push({ file: "(tsc)", resource: "", check: "strict", message: line.trim() });
      }
    }
    if (findings.length === 0)
      findings.push({
        file: "(tsc)",
        resource: "",
        check: "strict",
        message: `type check failed: ${run.stdout}${run.stderr}${run.error?.message ?? ""}`,
      });
    return findings;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// --- 4. the sidecar's rules ------------------------------------------------------------

const SIDECAR_IMAGE = /(^|\/)redlock-sidecar(:|@|$)/;
const KNOWN_SETTINGS = new Set(SETTINGS.map((s) => s.env));
/** Settings whose values are secret: they belong in a Secret. */
const SECRET_SETTINGS = new Set(["LOCK_INSTANCES"]);
/** Time the application itself gets to shut down before the sidecar's grace. */
const MIN_EXTRA_GRACE_S = 5;

function policyFindings(manifests: readonly Manifest[]): Finding[] {
  const findings: Finding[] = [];
  const byKind = (kind: string): Manifest[] => manifests.filter((m) => m.doc["kind"] === kind && isKubernetesObject(m));
  const named = (kind: string, name: string | undefined): Manifest | undefined =>
    byKind(kind).find((m) => (m.doc["metadata"] as Obj | undefined)?.["name"] === name);
  const kustomizationImages = new Set(
    manifests
      .filter((m) => !isKubernetesObject(m))
      .flatMap((m) =>
        Array.isArray(m.doc["images"])
          ? (m.doc["images"] as unknown[]).filter((i): i is string => typeof i === "string")
          : [],
      ),
  );

  for (const cm of byKind("ConfigMap")) {
    const add = (message: string): void =>
      void findings.push({ file: cm.file, resource: resourceOf(cm), check: "policy", message });
    const data = isObj(cm.doc["data"]) ? cm.doc["data"] : {};
    for (const key of Object.keys(data)) {
      if (SECRET_SETTINGS.has(key)) add(`${key} carries passwords: put it in a Secret, not a ConfigMap`);
      else if (key.startsWith("LOCK_") && !KNOWN_SETTINGS.has(key))
        add(`${key} is not a setting of the sidecar (known: ${[...KNOWN_SETTINGS].join(", ")})`);
    }
  }

  for (const deployment of byKind("Deployment")) {
    const add = (message: string): void =>
      void findings.push({ file: deployment.file, resource: resourceOf(deployment), check: "policy", message });
    const pod = ((deployment.doc["spec"] as Obj | undefined)?.["template"] as Obj | undefined)?.["spec"];
    if (!isObj(pod)) continue;
    const podSecurity = isObj(pod["securityContext"]) ? pod["securityContext"] : {};
    const initContainers = objs(pod["initContainers"]);
    const containers = objs(pod["containers"]);
    const sidecars = [...initContainers, ...containers].filter((c) => SIDECAR_IMAGE.test(str(c["image"]) ?? ""));
    if (sidecars.length !== 1) {
      add(`expected exactly one redlock-sidecar container, found ${sidecars.length}`);
      continue;
    }
    const sidecar = sidecars[0]!;
    if (!initContainers.includes(sidecar) || sidecar["restartPolicy"] !== "Always")
      add("the sidecar must be a native sidecar: an initContainers entry with restartPolicy: Always");

    for (const c of [...initContainers, ...containers]) {
      const name = str(c["name"]) ?? "?";
      const image = str(c["image"]) ?? "";
      if (kustomizationImages.size > 0 && !kustomizationImages.has(image.replace(/[:@].*$/, "")))
        add(`container ${name}: image ${image} is not set in kustomization.yaml images`);
      const resources = isObj(c["resources"]) ? c["resources"] : {};
      const requests = isObj(resources["requests"]) ? resources["requests"] : {};
      const limits = isObj(resources["limits"]) ? resources["limits"] : {};
      if (requests["cpu"] === undefined || requests["memory"] === undefined)
        add(`container ${name}: resources.requests.cpu and .memory are required`);
      if (limits["memory"] === undefined) add(`container ${name}: resources.limits.memory is required`);
      const sc = isObj(c["securityContext"]) ? c["securityContext"] : {};
      if ((sc["runAsNonRoot"] ?? podSecurity["runAsNonRoot"]) !== true)
        add(`container ${name}: runAsNonRoot must be true`);
      const uid = sc["runAsUser"] ?? podSecurity["runAsUser"];
      if (uid === 0) add(`container ${name}: runAsUser must not be 0`);
      if (sc["readOnlyRootFilesystem"] !== true)
        add(`container ${name}: securityContext.readOnlyRootFilesystem must be true`);
      if (sc["allowPrivilegeEscalation"] !== false)
        add(`container ${name}: securityContext.allowPrivilegeEscalation must be false`);
      const drop = (isObj(sc["capabilities"]) ? sc["capabilities"]["drop"] : undefined) as unknown;
      if (!Array.isArray(drop) || !drop.includes("ALL"))
        add(`container ${name}: securityContext.capabilities.drop must include ALL`);
    }

    // Probes on the admin listener: /healthz for startup and liveness, /readyz for readiness.
    const adminPort = objs(sidecar["ports"]).find((p) => p["containerPort"] === 9090);
    for (const [probe, path] of [
      ["startupProbe", "/healthz"],
      ["livenessProbe", "/healthz"],
      ["readinessProbe", "/readyz"],
    ] as const) {
      const httpGet = isObj(sidecar[probe]) ? (sidecar[probe] as Obj)["httpGet"] : undefined;
      if (!isObj(httpGet)) {
        add(`sidecar: ${probe} must be an httpGet probe of the admin listener`);
        continue;
      }
      if (httpGet["path"] !== path) add(`sidecar: ${probe} must get ${path}, not ${String(httpGet["path"])}`);
      const port = httpGet["port"];
      if (port !== 9090 && (adminPort === undefined || port !== adminPort["name"]))
        add(`sidecar: ${probe} must use the admin port 9090 (LOCK_ADMIN_LISTEN), not ${String(port)}`);
    }

    // The sidecar's environment as Kubernetes would assemble it.
    const env: Record<string, string> = {};
    for (const from of objs(sidecar["envFrom"])) {
      const ref = isObj(from["configMapRef"])
        ? from["configMapRef"]
        : isObj(from["secretRef"])
          ? from["secretRef"]
          : undefined;
      const kind = isObj(from["configMapRef"]) ? "ConfigMap" : "Secret";
      const source = named(kind, str(ref?.["name"]));
      if (!source) {
        add(`sidecar: envFrom ${kind} ${String(ref?.["name"])} is not among the manifests`);
        continue;
      }
      Object.assign(env, stringMap(source, kind));
    }
    for (const variable of objs(sidecar["env"])) {
      const name = str(variable["name"]) ?? "";
      if (typeof variable["value"] === "string") env[name] = variable["value"];
      const from = isObj(variable["valueFrom"]) ? variable["valueFrom"] : {};
      const secretRef = isObj(from["secretKeyRef"]) ? from["secretKeyRef"] : undefined;
      const configRef = isObj(from["configMapKeyRef"]) ? from["configMapKeyRef"] : undefined;
      const ref = secretRef ?? configRef;
      if (!ref) continue;
      const source = named(secretRef ? "Secret" : "ConfigMap", str(ref["name"]));
      const value = source ? stringMap(source, secretRef ? "Secret" : "ConfigMap")[str(ref["key"]) ?? ""] : undefined;
      if (value === undefined)
        add(
          `sidecar: ${name} refers to ${String(ref["name"])}/${String(ref["key"])}, which is not among the manifests`,
        );
      else env[name] = value;
      if (SECRET_SETTINGS.has(name) && !secretRef) add(`sidecar: ${name} carries passwords: take it from a Secret`);
    }
    for (const name of SECRET_SETTINGS)
      if (typeof objs(sidecar["env"]).find((v) => v["name"] === name)?.["value"] === "string")
        add(`sidecar: ${name} carries passwords: take it from a Secret, not a literal value`);
    if (!env["LOCK_INSTANCES"])
      add("sidecar: LOCK_INSTANCES is not set: the sidecar would run on its embedded single-process store");

    // Every setting must be accepted by the sidecar's own configuration loader.
    try {
      const options = loadConfig(env, []);
      const graceS = pod["terminationGracePeriodSeconds"];
      const needed = Math.ceil(options.shutdownGraceMs / 1000) + MIN_EXTRA_GRACE_S;
      if (typeof graceS !== "number")
        add(
          `terminationGracePeriodSeconds must be set to a number of seconds (at least LOCK_SHUTDOWN_GRACE + ${MIN_EXTRA_GRACE_S} s = ${needed} s)`,
        );
      else if (graceS < needed)
        add(
          `terminationGracePeriodSeconds ${graceS} is too short for LOCK_SHUTDOWN_GRACE ${env["LOCK_SHUTDOWN_GRACE"] ?? "(default)"}: at least ${needed} s`,
        );
      const [, port] = /:(\d+)$/.exec(env["LOCK_ADMIN_LISTEN"] ?? "0.0.0.0:9090") ?? [];
      if (port !== undefined && adminPort !== undefined && Number(port) !== adminPort["containerPort"])
        add(`LOCK_ADMIN_LISTEN port ${port} differs from the admin containerPort`);
      if ((env["LOCK_ADMIN_LISTEN"] ?? "").startsWith("127."))
        add("LOCK_ADMIN_LISTEN on loopback: the kubelet's probes cannot reach it");
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      add(`sidecar settings rejected by the sidecar: ${error.message}`);
    }
    if (parseDurationMs(env["LOCK_SHUTDOWN_GRACE"] ?? "10s") === undefined)
      add("LOCK_SHUTDOWN_GRACE is not a duration");
  }
  return findings;
}

/** data (ConfigMap) or data/stringData (Secret; data is base64) as strings. */
function stringMap(m: Manifest, kind: string): Record<string, string> {
  const out: Record<string, string> = {};
  const data = isObj(m.doc["data"]) ? m.doc["data"] : {};
  for (const [key, value] of Object.entries(data))
    if (typeof value === "string") out[key] = kind === "Secret" ? Buffer.from(value, "base64").toString("utf8") : value;
  const stringData = kind === "Secret" && isObj(m.doc["stringData"]) ? m.doc["stringData"] : {};
  for (const [key, value] of Object.entries(stringData)) if (typeof value === "string") out[key] = value;
  return out;
}

// --- command line --------------------------------------------------------------------

export function formatFinding(f: Finding): string {
  return `${f.file}${f.resource ? ` ${f.resource}` : ""} [${f.check}] ${f.message}`;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dirs = process.argv.slice(2);
  const { manifests, findings } = await validateDirectories(
    dirs.length > 0 ? dirs : [join(ROOT, "deploy", "kubernetes")],
  );
  for (const m of manifests) if (isKubernetesObject(m)) console.log(`checked ${resourceOf(m)} (${m.file})`);
  for (const f of findings) console.error(`INVALID ${formatFinding(f)}`);
  console.log(
    findings.length === 0
      ? `${basename(process.argv[1])}: ${manifests.length} documents valid (Kubernetes v1.36 schemas, strict fields, sidecar rules)`
      : `${findings.length} finding(s)`,
  );
  process.exitCode = findings.length === 0 ? 0 : 1;
}
