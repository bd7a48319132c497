import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PATCHES = join(ROOT, 'bench/baselines');

/**
 * A "before" build to measure against in the same run: `spec` is a git revision, or the name of
 * a patch in bench/baselines/ applied to this checkout's HEAD (e.g. `no-durability`: today's code
 * with the durability change taken out). It is checked out into a temporary worktree that shares
 * this checkout's node_modules, and its server is compiled there. Returns the worktree's path.
 */
export function prepareBaseline(spec, cleanup) {
  const patch = join(PATCHES, `${spec}.patch`);
  const named = existsSync(patch);
  const dir = mkdtempSync(join(tmpdir(), 'tributary-baseline-'));
  const git = (...args) =>
    execFileSync('git', args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] })
      .toString()
      .trim();
  git('worktree', 'add', '--detach', dir, named ? 'HEAD' : spec);
  cleanup.add(() => {
    try {
      git('worktree', 'remove', '--force', dir);
    } catch {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  if (named) execFileSync('git', ['apply', patch], { cwd: dir, stdio: 'inherit' });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  for (const pkg of readdirSync(join(ROOT, 'packages'))) {
    const modules = join(ROOT, 'packages', pkg, 'node_modules');
    if (existsSync(modules) && existsSync(join(dir, 'packages', pkg))) symlinkSync(modules, join(dir, 'packages', pkg, 'node_modules'));
  }
  execFileSync('npx', ['tsc', '-b', 'packages/server'], { cwd: dir, stdio: 'inherit' });
  return dir;
}
