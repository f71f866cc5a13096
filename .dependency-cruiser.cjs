/**
 * The import rules of src/ (run by `npm run lint`): a file imports only from its own layer
 * or the layers below it, and no files import each other in a loop. The layers, lowest
 * first — written here once; the rules below are made from this list:
 *
 *   errors, lib        no project imports beyond these two
 *   config             the environment, read and checked
 *   providers, models  provider adapters and the model catalogue
 *   db                 connections, schema, migrations, cache bus
 *   crypto             envelope encryption and the key vault
 *   http               HTTP plumbing the modules use (auth hook, errors, validation, security);
 *                      above db and crypto only for http/errors.ts, which turns their
 *                      failures into responses (rule http-not-db-crypto)
 *   modules, web       one folder per domain (routes, service, repo, schemas); the settings page
 *   server             the composition root's own plumbing, no module uses it (OpenAPI
 *                      options, load shedding, request logging)
 *   app.ts             the composition root (`buildApp`), which imports every module
 *   cli                the `neo-byok` commands
 *
 * Within a layer, folders may import each other (modules/byok uses modules/auth).
 *
 * Tables are reached through repositories: only `*.repo.ts` files and src/db import
 * Kysely (the query builder and its types); services, routes, the CLI and crypto call a
 * repository. eslint.config.js forbids the query builder's entry points (selectFrom,
 * insertInto, …) in the same files, for code that gets a `Db` handle without importing Kysely.
 */
const LAYERS = [['errors', 'lib'], ['config'], ['providers', 'models'], ['db'], ['crypto'], ['http'], ['modules', 'web'], ['server'], ['app.ts'], ['cli']];

const paths = (names) => `^src/(${names.map((n) => n.replace('.', '\\.')).join('|')})($|/)`;

module.exports = {
  forbidden: [
    ...LAYERS.slice(0, -1).map((layer, i) => ({
      name: `${layer.join('-')}-imports-upward`,
      comment: `${layer.join(', ')} may import only from ${LAYERS.slice(0, i + 1).flat().join(', ')} (.dependency-cruiser.cjs)`,
      severity: 'error',
      from: { path: paths(layer) },
      to: { path: paths(LAYERS.slice(i + 1).flat()) },
    })),
    {
      name: 'http-not-db-crypto',
      comment:
        'http/ is plumbing over Fastify and does not use the database or the key vault; only http/errors.ts names their failures (database unavailable: 503; an unreadable key: its log line). Type-only imports (the row types auth.ts attaches) load nothing (.dependency-cruiser.cjs)',
      severity: 'error',
      from: { path: '^src/http/', pathNot: '^src/http/errors\\.ts$' },
      to: { path: '^src/(db|crypto)/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'kysely-only-in-repositories',
      comment: 'only *.repo.ts and src/db use Kysely: every service reaches its tables through its repository (.dependency-cruiser.cjs)',
      severity: 'error',
      from: { path: '^src/', pathNot: ['^src/db/', '\\.repo\\.ts$', '\\.test\\.ts$'] },
      to: { path: '^node_modules/kysely/' },
    },
    {
      name: 'no-import-loop',
      comment: 'files that import each other, directly or through others',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
  ],
  options: {
    // src/, and Kysely for the rule above.
    includeOnly: '^(src/|node_modules/kysely/)',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
