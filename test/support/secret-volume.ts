import { mkdir, readlink, rename, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";

/**
 * A directory laid out like a mounted Kubernetes secret: each file is a
 * symlink `name -> ..data/name`, `..data` is a symlink to a timestamped
 * directory, and an update writes a new directory and swaps `..data` with
 * one rename, so readers see the old set or the new one, never a mix of
 * files from both (unless they read between two files, as in real life).
 */
export class SecretVolume {
  readonly dir: string;
  #generation = 0;

  constructor(dir: string) {
    this.dir = dir;
  }

  path(name: string): string {
    return join(this.dir, name);
  }

  async write(files: Record<string, Buffer | string>): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const generation = `..gen_${++this.#generation}`;
    await mkdir(join(this.dir, generation));
    for (const [name, contents] of Object.entries(files)) await writeFile(join(this.dir, generation, name), contents);
    const previous = await readlink(join(this.dir, "..data")).catch(() => undefined);
    await symlink(generation, join(this.dir, "..data_tmp"));
    await rename(join(this.dir, "..data_tmp"), join(this.dir, "..data"));
    for (const name of Object.keys(files)) {
      await symlink(join("..data", name), join(this.dir, name)).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== "EEXIST") throw error;
      });
    }
    if (previous) await rm(join(this.dir, previous), { recursive: true, force: true });
  }
}
