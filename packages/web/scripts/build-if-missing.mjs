// `npm start` builds the web app only when it has never been built (npm ci's `prepare` builds it);
// after editing the app, `npm run build` or `npm run dev` picks the change up.
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
if (!existsSync(`${root}dist/index.html`)) {
  console.log('Building the web app (first start)…');
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });
}
