// The container image (Dockerfile, .dockerignore) against what runs in it: every module the
// entry point can load is copied, every package it imports is a production dependency, and
// the command the operator writes into dispatcher Deployments reaches the dispatcher.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { EventSource } from '../../core/api/v1alpha1/eventsource.ts';
import { dispatcherObjects } from '../../operator/controllers/dispatcher-objects.ts';

const repo = path.resolve(import.meta.dirname, '..', '..');
const dockerfile = fs.readFileSync(path.join(repo, 'Dockerfile'), 'utf8');
const dockerignore = fs.readFileSync(path.join(repo, '.dockerignore'), 'utf8').split('\n');
const packageJson = JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
};

/** The instructions of the Dockerfile's last stage, continuation lines joined. */
function finalStage(): { instruction: string; args: string }[] {
  const lines = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
  const lastFrom = lines.findLastIndex((line) => /^FROM\s/i.test(line));
  return lines.slice(lastFrom).map((line) => {
    const [instruction, ...rest] = line.split(/\s+/);
    return { instruction: instruction!.toUpperCase(), args: rest.join(' ') };
  });
}

function instruction(name: string): string {
  const found = finalStage().filter((i) => i.instruction === name);
  assert.equal(found.length, 1, `the final stage has ${found.length} ${name} instructions`);
  return found[0]!.args;
}

/** Relative paths (from the repo) of the sources the final stage copies from the context. */
function copiedFromContext(): string[] {
  return finalStage()
    .filter((i) => i.instruction === 'COPY' && !i.args.startsWith('--from'))
    .map((i) => {
      const [source] = i.args.split(/\s+/);
      return path.normalize(source!).replace(/\/$/, '');
    });
}

/** Every non-test module reachable from `entry` through relative imports, and the packages they import. */
function importGraph(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const pending = [path.resolve(repo, entry)];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    const source = fs.readFileSync(file, 'utf8');
    const specifiers = [
      ...source.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+'([^']+)'/gm),
      ...source.matchAll(/import\(\s*'([^']+)'\s*\)/g),
    ].map((match) => match[1]!);
    for (const specifier of specifiers) {
      if (specifier.startsWith('.')) pending.push(path.resolve(path.dirname(file), specifier));
      else if (!specifier.startsWith('node:'))
        packages.add(
          specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!,
        );
    }
  }
  return { files, packages };
}

function dispatcherContainer(): { image: string; args: string[]; securityContext: Record<string, unknown> } {
  const source = EventSource.parse({
    apiVersion: 'hookline.dev/v1alpha1',
    kind: 'EventSource',
    metadata: { name: 'orders', namespace: 'shop', uid: 'u' },
    spec: { rabbitmq: { connectionSecretRef: { name: 'broker', key: 'uri' }, exchange: 'orders' } },
  });
  const deployment = dispatcherObjects({
    source,
    image: 'hookline:test',
    brokerSecret: { name: 'broker', key: 'uri' },
    configHash: 'h',
    secretNames: [],
    delivery: { allowedCidrs: [], allowHttpUrls: false },
  }).find((o) => o.kind === 'Deployment') as unknown as {
    spec: {
      template: {
        spec: {
          securityContext: { runAsUser: number };
          containers: { image: string; args: string[]; securityContext: Record<string, unknown> }[];
        };
      };
    };
  };
  const pod = deployment.spec.template.spec;
  return {
    ...pod.containers[0]!,
    securityContext: { ...pod.securityContext, ...pod.containers[0]!.securityContext },
  };
}

describe('the container image', () => {
  it('runs hookline.ts with `operator` by default, as a numeric non-root user', () => {
    assert.deepEqual(JSON.parse(instruction('ENTRYPOINT')), ['/nodejs/bin/node', 'hookline.ts']);
    assert.deepEqual(JSON.parse(instruction('CMD')), ['operator']);
    assert.equal(instruction('WORKDIR'), '/app');
    const [uid] = instruction('USER').split(':');
    assert.match(uid!, /^[1-9][0-9]*$/, 'runAsNonRoot needs a numeric USER');
    // The user the chart and the dispatcher Deployments run as.
    const template = fs.readFileSync(path.join(repo, 'charts/hookline/templates/deployment.yaml'), 'utf8');
    assert.match(template, new RegExp(`runAsUser: ${uid}\\b`));
    assert.equal(dispatcherContainer().securityContext.runAsUser, Number(uid));
    assert.equal(dispatcherContainer().securityContext.readOnlyRootFilesystem, true);
  });

  it('copies every module the entry point can load, and no tests', () => {
    const copied = copiedFromContext();
    for (const required of ['package.json', 'hookline.ts', 'core', 'operator', 'dispatcher'])
      assert.ok(copied.includes(required), `${required} is not copied`);
    const { files } = importGraph('hookline.ts');
    assert.ok(files.size > 30, `only ${files.size} modules found: the import scan is broken`);
    for (const file of files) {
      const relative = path.relative(repo, file);
      assert.ok(
        copied.some((dir) => relative === dir || relative.startsWith(`${dir}/`)),
        `${relative} is loaded at runtime but not copied into the image`,
      );
      assert.ok(!relative.endsWith('.test.ts'), `${relative} is a test, which .dockerignore leaves out`);
      const [topLevel, ...below] = relative.split('/');
      const kept = below.length > 0 ? `!${topLevel}/` : `!${relative}`;
      assert.ok(dockerignore.includes(kept), `.dockerignore keeps ${relative} out of the build context`);
    }
  });

  it('needs no package outside the production dependencies that `npm ci --omit=dev` installs', () => {
    assert.match(dockerfile, /npm ci --omit=dev/);
    const { packages } = importGraph('hookline.ts');
    assert.ok(
      packages.has('@kubernetes/client-node') && packages.has('amqplib'),
      'the import scan is broken',
    );
    for (const name of packages)
      assert.ok(
        name in packageJson.dependencies,
        `${name} is imported at runtime but is not in "dependencies"`,
      );
  });

  it('starts the dispatcher with the command the operator writes into dispatcher Deployments', async () => {
    const [entry, script] = JSON.parse(instruction('ENTRYPOINT')) as [string, string];
    assert.equal(path.basename(entry), 'node');
    const { args } = dispatcherContainer();
    assert.equal(args[0], 'dispatcher');
    // Without HOOKLINE_BROKER_URI (the Deployment sets it from a Secret) the dispatcher stops
    // at its settings: proof that the command reached it, without a broker or an API server.
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = execFile(
        process.execPath,
        [script, ...args],
        { cwd: repo, env: { PATH: process.env.PATH }, timeout: 30_000 },
        (error, _stdout, stderr) =>
          resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stderr }),
      );
      child.stdin?.end();
    });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /invalid dispatcher settings/);
    assert.match(result.stderr, /--broker-uri \(HOOKLINE_BROKER_URI\)/);
  });
});
