// Structural tests of the two Containerfiles, run in `npm test` on any machine: they parse, their
// stages connect, they copy every workspace manifest `npm ci` needs, the build context lets in what
// they copy, and the final images keep the promises of infra/container/README.md (built JavaScript
// only, non-root, /data and /runs volumes, no token baked in, GNET_REQUIRE_GPU=1 on the GPU worker).
// Building the CPU image for real is infra/container/build-and-run.sh (opt-in, root, minutes).
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  argDefault,
  contextSources,
  ContainerfileSyntaxError,
  envPairs,
  execForm,
  parentStage,
  parseContainerfile,
  type Containerfile,
  type Instruction,
  type Stage,
} from './containerfile.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const CONTAINER_DIR = join(HERE, '..');
const REPO_ROOT = join(CONTAINER_DIR, '..', '..');

function load(name: string): Containerfile {
  return parseContainerfile(readFileSync(join(CONTAINER_DIR, name), 'utf8'));
}

function stage(file: Containerfile, name: string): Stage {
  const found = file.stages.find((s) => s.name === name);
  assert.ok(found, `stage '${name}' exists`);
  return found;
}

/** A stage's instructions and those of the stages it is built FROM, parent first. */
function lineage(file: Containerfile, s: Stage): Instruction[] {
  const parent = parentStage(file, s);
  return [...(parent === undefined ? [] : lineage(file, parent)), ...s.instructions];
}

function finalEnv(file: Containerfile): Map<string, string> {
  const env = new Map<string, string>();
  for (const i of lineage(file, file.stages.at(-1)!)) if (i.keyword === 'ENV') for (const [k, v] of envPairs(i)) env.set(k, v);
  return env;
}

/** Workspace folders of the root package.json (`packages/*` expanded to folders with a package.json). */
function workspaces(): string[] {
  const globs = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { workspaces: string[] }).workspaces;
  return globs.flatMap((glob) => {
    if (!glob.endsWith('/*')) return [glob];
    const parent = glob.slice(0, -2);
    return readdirSync(join(REPO_ROOT, parent), { withFileTypes: true })
      .filter((d) => d.isDirectory() && existsSync(join(REPO_ROOT, parent, d.name, 'package.json')))
      .map((d) => `${parent}/${d.name}`);
  });
}

/** Paths the ignore file lets back in (`!path` lines). */
function allowed(): string[] {
  return readFileSync(join(CONTAINER_DIR, 'containerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('!'))
    .map((l) => l.slice(1).replace(/\/$/, ''));
}

for (const name of ['Containerfile.cpu', 'Containerfile.worker-gpu']) {
  describe(name, () => {
    const file = load(name);

    it('builds runtime-base -> build -> prod-deps -> final, the final image on runtime-base', () => {
      assert.deepEqual(
        file.stages.map((s) => s.name ?? '(final)'),
        ['runtime-base', 'build', 'prod-deps', '(final)'],
      );
      assert.equal(file.stages.at(-1)!.base, 'runtime-base');
      assert.equal(stage(file, 'build').base, 'runtime-base');
      assert.equal(stage(file, 'prod-deps').base, 'build');
    });

    it("copies every workspace's package.json before `npm ci` (npm ci needs them all)", () => {
      const build = stage(file, 'build');
      const copied = new Set(build.instructions.flatMap(contextSources));
      for (const ws of workspaces()) assert.ok(copied.has(`${ws}/package.json`), `${name} copies ${ws}/package.json`);
      const firstCi = build.instructions.findIndex((i) => i.keyword === 'RUN' && /\bnpm ci\b/.test(i.args));
      const lastManifest = build.instructions.findLastIndex((i) => contextSources(i).some((s) => s.endsWith('package.json')));
      assert.ok(firstCi > lastManifest, 'npm ci runs after the manifests are copied');
    });

    it('copies from the build context only what containerignore lets in', () => {
      const allow = allowed();
      const sources = file.stages.flatMap((s) => s.instructions.flatMap(contextSources));
      assert.ok(sources.length > 0);
      for (const source of sources) {
        const path = source.replace(/\/$/, '');
        assert.ok(
          allow.some((a) => path === a || path.startsWith(`${a}/`)),
          `${name} copies '${source}', which containerignore must let in with a '!' line`,
        );
        assert.ok(existsSync(join(REPO_ROOT, path)), `'${source}' exists in the repository`);
      }
    });

    it('installs production dependencies only, from the lockfile, without install scripts', () => {
      const runs = stage(file, 'prod-deps')
        .instructions.filter((i) => i.keyword === 'RUN')
        .map((i) => i.args)
        .join('\n');
      assert.match(runs, /npm ci --omit=dev --ignore-scripts/);
      // The final image copies /app from prod-deps and nothing else of the build.
      const copies = file.stages.at(-1)!.instructions.filter((i) => i.keyword === 'COPY' && /--from=/.test(i.args));
      assert.deepEqual(
        copies.map((i) => i.args),
        ['--from=prod-deps /app /app'],
      );
    });

    it('runs the built JavaScript as a non-root user, through gnet-entrypoint.sh', () => {
      const final = file.stages.at(-1)!;
      const user = final.instructions.filter((i) => i.keyword === 'USER').at(-1);
      assert.ok(user, 'the final stage sets USER');
      assert.match(user.args, /^[1-9]\d*(:[1-9]\d*)?$/, 'a numeric non-root user (Kubernetes runAsNonRoot can check it)');
      const entrypoint = execForm(final.instructions.find((i) => i.keyword === 'ENTRYPOINT')!);
      assert.deepEqual(entrypoint, ['/usr/bin/tini', '--', '/usr/local/bin/gnet']);
      for (const i of final.instructions) {
        assert.doesNotMatch(i.args, /\btsx\b|--conditions=source/, `line ${i.line} of the final stage runs no TypeScript`);
      }
      assert.ok(
        final.instructions.some((i) => i.keyword === 'COPY' && i.args === 'infra/container/gnet-entrypoint.sh /usr/local/bin/gnet'),
      );
    });

    it('declares /data and /runs as volumes and bakes no token in', () => {
      const volumes = file.stages
        .at(-1)!
        .instructions.filter((i) => i.keyword === 'VOLUME')
        .flatMap((i) => execForm(i) ?? []);
      assert.deepEqual(volumes.sort(), ['/data', '/runs']);
      const env = finalEnv(file);
      assert.equal(env.get('CIFAR10_DIR'), '/data');
      assert.equal(env.has('GNET_TOKEN'), false, 'GNET_TOKEN comes from the environment at run time');
      for (const s of file.stages)
        for (const i of s.instructions) assert.doesNotMatch(i.args, /GNET_TOKEN=/, `line ${i.line} sets no token`);
    });
  });
}

describe('Containerfile.cpu', () => {
  const file = load('Containerfile.cpu');

  it('builds on Debian 13 with oneDNN 2 pinned from Debian 12, and builds the addon strictly', () => {
    assert.equal(argDefault(file, 'BASE_IMAGE'), 'docker.io/library/debian:trixie-slim');
    const base = stage(file, 'runtime-base')
      .instructions.map((i) => i.args)
      .join('\n');
    assert.match(base, /Suites: bookworm/);
    assert.match(base, /Package: libdnnl2 libdnnl-dev' 'Pin: release n=bookworm' 'Pin-Priority: 990'/);
    assert.match(base, /apt-get install -y --no-install-recommends nodejs libdnnl2 /);
    const build = stage(file, 'build')
      .instructions.map((i) => i.args)
      .join('\n');
    assert.match(build, /npm run build:native -w @gnet\/native-cpu/);
    assert.doesNotMatch(build, /build\.mjs --optional/);
  });

  it('leaves both optional TensorFlow bindings out', () => {
    const runs = stage(file, 'prod-deps')
      .instructions.map((i) => i.args)
      .join('\n');
    assert.match(runs, /npm uninstall --no-save .*@tensorflow\/tfjs-node @tensorflow\/tfjs-node-gpu/);
  });
});

describe('Containerfile.worker-gpu', () => {
  const file = load('Containerfile.worker-gpu');

  it('is based on CUDA 11.2 + cuDNN 8 (what libtensorflow 2.9.1 was built for) and demands a GPU', () => {
    assert.equal(argDefault(file, 'CUDA_IMAGE'), 'docker.io/nvidia/cuda:11.2.2-cudnn8-runtime-ubuntu20.04');
    assert.equal(stage(file, 'runtime-base').base, '${CUDA_IMAGE}');
    const env = finalEnv(file);
    assert.equal(env.get('GNET_REQUIRE_GPU'), '1');
    assert.equal(env.get('GNET_BACKEND'), 'tensorflow');
  });

  it("runs tfjs-node-gpu's install step alone and fails the build when it fetched nothing", () => {
    const runs = stage(file, 'prod-deps')
      .instructions.map((i) => i.args)
      .join('\n');
    assert.match(runs, /npm rebuild @tensorflow\/tfjs-node-gpu/);
    assert.match(runs, /deps\/lib\/libtensorflow\.so\.2/);
    assert.match(runs, /npm uninstall --no-save .*@tensorflow\/tfjs-node;/);
  });
});

describe('parseContainerfile', () => {
  const reject = (text: string, message: RegExp): void => {
    assert.throws(
      () => parseContainerfile(text),
      (err: unknown) => err instanceof ContainerfileSyntaxError && err.code === 'CONTAINERFILE_SYNTAX' && message.test(err.message),
    );
  };

  it('joins continuations, skips comments inside them, and splits stages', () => {
    const file = parseContainerfile('ARG B=x:1\nFROM ${B} AS one\nRUN a \\\n  # note\n  b\nFROM one\nCOPY --from=one /a /b\n');
    assert.equal(file.stages.length, 2);
    assert.equal(file.stages[0]!.instructions[0]!.args, 'a b');
    assert.equal(file.stages[0]!.instructions[0]!.line, 3);
    assert.equal(argDefault(file, 'B'), 'x:1');
  });

  it('rejects what a builder rejects', () => {
    reject('FROM a\nRUNN x\n', /line 2: unknown instruction 'RUNN'/);
    reject('RUN x\nFROM a\n', /only ARG may come before the first FROM, but got RUN/);
    reject('FROM a AS b\nFROM c AS b\n', /stage name 'b' is used twice/);
    reject('FROM a AS b\nCOPY --from=nope /x /y\n', /COPY --from=nope names no earlier stage/);
    reject('FROM a\nCMD ["x", 1]\n', /CMD exec form must be a JSON array of strings/);
    reject('FROM a\nENTRYPOINT ["x"\n', /ENTRYPOINT starts with '\[' but is not JSON/);
    reject('FROM a\nRUN x \\\n', /ends with a line continuation/);
    reject('FROM a\nRUN <<EOF\nx\nEOF\n', /heredocs are not supported/);
    reject('# only a comment\n', /no FROM instruction/);
  });
});

// Docker reads only the context root's .dockerignore; Podman is pointed at containerignore
// (--ignorefile). The two must say the same, or the two tools build from different contexts.
it('the root .dockerignore is a copy of containerignore', () => {
  assert.equal(readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8'), readFileSync(join(CONTAINER_DIR, 'containerignore'), 'utf8'));
});
