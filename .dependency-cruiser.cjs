// The "may import" table of docs/architecture.md, as rules: `npm run lint` (part of `npm test`)
// fails when code imports across a line the table does not draw. Change both together.
const SRC = '^packages/server/src/';

/** A folder may import only itself, `values` (any import) and `types` (type-only imports). */
function mayImport(folder, { values = [], types = [] }) {
  const from = { path: `${SRC}${folder}/` };
  const own = `${SRC}${folder}/`;
  const alt = (list) => `${SRC}(${list.join('|')})`;
  const rules = [
    {
      name: `${folder.replace('/', '-')}-may-import`,
      comment: `${folder}/ may import: ${[...values, ...types.map((t) => `${t} (types)`)].join(', ') || 'nothing of the app'}`,
      severity: 'error',
      from,
      to: { path: SRC, pathNot: [own, ...(values.length + types.length ? [alt([...values, ...types])] : [])] },
    },
  ];
  if (types.length) {
    rules.push({
      name: `${folder.replace('/', '-')}-types-only`,
      comment: `${folder}/ may import ${types.join(', ')} for types only`,
      severity: 'error',
      from,
      to: { path: alt(types), dependencyTypesNot: ['type-only'] },
    });
  }
  return rules;
}

module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', from: { path: '^packages/' }, to: { circular: true } },
    // streams/ names Redis outages with the error catalogue and reads its backend choice from config types.
    ...mayImport('streams', { values: ['errors\\.ts'], types: ['config/'] }),
    ...mayImport('config', { values: ['input/'] }),
    // Limits on outside JSON: used by config files, WebSocket protocols and the body parser.
    ...mayImport('input', { values: ['errors\\.ts'] }),
    ...mayImport('store', { types: ['config/'] }),
    ...mayImport('ops', { values: ['errors\\.ts'], types: ['config/', 'streams/', 'realtime/', 'llm/', 'store/types\\.ts'] }),
    ...mayImport('llm', { values: ['errors\\.ts'], types: ['config/'] }),
    // llm/upstream/ is inside llm/: the llm rule above covers it; this one keeps it below the dialects.
    ...mayImport('llm/upstream', { values: ['llm/provider\\.ts', 'errors\\.ts'], types: ['config/'] }),
    ...mayImport('gateway', { values: ['llm/', 'errors\\.ts'], types: ['config/'] }),
    ...mayImport('compare', { values: ['streams/', 'llm/', 'errors\\.ts', 'store/text\\.ts'], types: ['store/types\\.ts', 'config/'] }),
    // jobs/ runs each item through the comparison's runModel; the rest it only names as types.
    ...mayImport('jobs', {
      values: ['compare/model-run\\.ts', 'errors\\.ts'],
      types: ['compare/events\\.ts', 'llm/', 'streams/', 'store/database\\.ts', 'config/'],
    }),
    ...mayImport('realtime', { values: ['streams/', 'errors\\.ts', 'input/'], types: ['config/'] }),
    ...mayImport('transports', { values: ['streams/', 'realtime/', 'ops/', 'errors\\.ts', 'input/'], types: ['compare/', 'config/'] }),
    {
      name: 'errors-imports-nothing',
      severity: 'error',
      from: { path: `${SRC}errors\\.ts$` },
      to: { path: SRC },
    },
    {
      name: 'only-http-knows-fastify',
      comment: 'Nothing below http/ (and app.ts) imports Fastify.',
      severity: 'error',
      from: { path: SRC, pathNot: [`${SRC}http/`, `${SRC}app\\.ts$`] },
      to: { path: '(^|/)node_modules/(fastify|@fastify/)' },
    },
    {
      name: 'cli-may-import',
      comment: 'The CLI starts the app, reads config, signs realtime tokens, runs identity commands, names start errors.',
      severity: 'error',
      from: { path: `${SRC}cli\\.ts$` },
      to: {
        path: SRC,
        pathNot: [
          `${SRC}(app|cli|verify-cli)\\.ts$`,
          `${SRC}(config|realtime)/`,
          `${SRC}identity/commands\\.ts$`,
          `${SRC}errors\\.ts$`,
          `${SRC}store/(open-store|data-dir-lock|migrations|redis-errors)\\.ts$`,
        ],
      },
    },
    {
      name: 'verify-cli-may-import',
      comment: '`tributary verify` checks a server from outside: config errors only, never the app (it starts without loading it).',
      severity: 'error',
      from: { path: `${SRC}verify-cli\\.ts$` },
      to: { path: SRC, pathNot: [`${SRC}config/`] },
    },
    {
      name: 'client-verify-may-import',
      comment: 'verify/ speaks only the public protocol: the SSE parser and the realtime types of the SDK, fetch and ws.',
      severity: 'error',
      from: { path: '^packages/client/src/verify/' },
      to: { path: '^packages/client/src/', pathNot: ['^packages/client/src/(verify/|sse-parser\\.ts$|realtime/types\\.ts$)'] },
    },
    {
      name: 'client-sdk-without-verify',
      comment: 'The browser SDK never pulls in verify/ (and its ws fallback): it is the separate entry @tributary/client/verify.',
      severity: 'error',
      from: { path: '^packages/client/src/', pathNot: '^packages/client/src/verify/' },
      to: { path: '^packages/client/src/verify/' },
    },
    {
      name: 'client-is-standalone',
      comment: 'The SDK runs in browsers and Node: it never imports the server or the web app.',
      severity: 'error',
      from: { path: '^packages/client/' },
      to: { path: '^packages/(server|web)/' },
    },
    {
      name: 'web-uses-the-client-only',
      severity: 'error',
      from: { path: '^packages/web/src/' },
      to: { path: '^packages/server/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)dist/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.base.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.tsx', '.js', '.mjs'] },
  },
};
