/**
 * Installing on the supported Node versions prints no EBADENGINE warning: every package
 * that package-lock.json installs accepts the oldest Node the project supports (the
 * lower bound of each range in package.json `engines.node`) and the Node running the tests.
 * Every install script is reviewed in package.json `allowScripts` (npm 12 skips the
 * unlisted ones): better-sqlite3's native build must run.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import semver from 'semver';

const root = new URL('..', import.meta.url);
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { engines: { node: string }; allowScripts?: Record<string, boolean> };
const lock = JSON.parse(readFileSync(new URL('package-lock.json', root), 'utf8')) as {
  packages: Record<string, { version?: string; engines?: { node?: string } | string[]; optional?: boolean; os?: string[]; hasInstallScript?: boolean }>;
};

describe('install on the supported Node versions', () => {
  it('no package in the lock file refuses a Node version the project supports (npm ci prints no EBADENGINE)', () => {
    // "20.19.0", "22.13.0" and "24.0.0" for "^20.19.0 || ^22.13.0 || >=24", plus the running Node.
    const supported = new semver.Range(pkg.engines.node).set.map((comparators) => semver.minVersion(comparators.map((c) => c.value).join(' '))!.version);
    const versions = [...new Set([...supported, process.versions.node])];
    assert.ok(versions.includes('20.19.0'), `the oldest supported Node is checked: ${versions.join(', ')}`);
    const refused: string[] = [];
    let checked = 0;
    for (const [path, entry] of Object.entries(lock.packages)) {
      const range = Array.isArray(entry.engines) ? undefined : entry.engines?.node;
      if (!path || !range) continue;
      checked++;
      for (const v of versions) {
        if (!semver.satisfies(v, range)) refused.push(`${path.replace(/^.*node_modules\//, '')}@${entry.version} requires node ${range}, refuses ${v}`);
      }
    }
    assert.ok(checked > 20, 'the lock file was read');
    assert.deepEqual(refused, [], 'packages that warn EBADENGINE: pin them with package.json `overrides`');
  });

  it('every package with an install script is approved or denied in allowScripts, and the native SQLite build is approved', () => {
    const allow = pkg.allowScripts ?? {};
    const withScripts = Object.entries(lock.packages)
      .filter(([path, e]) => path && e.hasInstallScript)
      .map(([path]) => path.replace(/^.*node_modules\//, ''));
    assert.ok(withScripts.includes('better-sqlite3'), 'the lock file was read');
    assert.deepEqual(
      withScripts.filter((name) => typeof allow[name] !== 'boolean'),
      [],
      'review them: npm install-scripts approve --no-allow-scripts-pin <pkg> (needed to work) or npm install-scripts deny <pkg>',
    );
    assert.equal(allow['better-sqlite3'], true);
  });
});
