// A small Containerfile (Dockerfile) reader for the images' structural tests: logical lines joined
// at backslash continuations, comment lines dropped, instructions checked by name, stages split at
// FROM, and the references between stages resolved, after the Dockerfile reference
// (docs.docker.com/reference/dockerfile). The GPU image cannot be built on the project's machines
// (no registry, no CUDA), so this is what checks it there. It is not BuildKit: it expands no
// variables and reads no heredocs (the Containerfiles use none, and the reader rejects `<<EOF`).

/** Every instruction of the Dockerfile reference. */
export const INSTRUCTIONS = [
  'ADD',
  'ARG',
  'CMD',
  'COPY',
  'ENTRYPOINT',
  'ENV',
  'EXPOSE',
  'FROM',
  'HEALTHCHECK',
  'LABEL',
  'MAINTAINER',
  'ONBUILD',
  'RUN',
  'SHELL',
  'STOPSIGNAL',
  'USER',
  'VOLUME',
  'WORKDIR',
] as const;
export type Keyword = (typeof INSTRUCTIONS)[number];

/** Instructions whose arguments may be a JSON array of strings (the exec form). */
const JSON_FORMS: ReadonlySet<Keyword> = new Set(['CMD', 'ENTRYPOINT', 'RUN', 'SHELL', 'VOLUME', 'COPY', 'ADD']);

/** One instruction: its keyword (upper case), its arguments as written (continuations joined). */
export interface Instruction {
  readonly keyword: Keyword;
  readonly args: string;
  /** 1-based line of the keyword. */
  readonly line: number;
}

/** One build stage: `FROM <base> [AS <name>]` and what follows up to the next FROM. */
export interface Stage {
  readonly index: number;
  readonly base: string;
  readonly name?: string;
  readonly instructions: readonly Instruction[];
}

export interface Containerfile {
  /** ARGs before the first FROM (usable in FROM lines). */
  readonly globalArgs: readonly Instruction[];
  readonly stages: readonly Stage[];
}

/** The file cannot be what a builder accepts; `line` is 1-based. */
export class ContainerfileSyntaxError extends Error {
  readonly code = 'CONTAINERFILE_SYNTAX' as const;
  constructor(
    readonly line: number,
    detail: string,
  ) {
    super(`Containerfile line ${line}: ${detail}`);
    this.name = 'ContainerfileSyntaxError';
  }
}

/** Logical lines: comments and blank lines dropped, `\` continuations joined with one space. */
function logicalLines(text: string): { text: string; line: number }[] {
  const out: { text: string; line: number }[] = [];
  let pending: { text: string; line: number } | undefined;
  text.split('\n').forEach((raw, i) => {
    const trimmed = raw.trim();
    // Inside a continuation too, a comment line is dropped, and so is an empty one (the reference).
    if (trimmed.startsWith('#') || trimmed === '') return;
    const continues = trimmed.endsWith('\\');
    const body = continues ? trimmed.slice(0, -1).trimEnd() : trimmed;
    pending = pending === undefined ? { text: body, line: i + 1 } : { text: `${pending.text} ${body}`, line: pending.line };
    if (!continues) {
      out.push(pending);
      pending = undefined;
    }
  });
  if (pending !== undefined) throw new ContainerfileSyntaxError(pending.line, 'the last instruction ends with a line continuation');
  return out;
}

/** The exec form's array, or undefined for the shell form; a `[` that is no JSON string array throws. */
export function execForm(instruction: Instruction): string[] | undefined {
  if (!instruction.args.startsWith('[')) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(instruction.args);
  } catch (err) {
    throw new ContainerfileSyntaxError(
      instruction.line,
      `${instruction.keyword} starts with '[' but is not JSON: ${(err as Error).message}`,
    );
  }
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw new ContainerfileSyntaxError(instruction.line, `${instruction.keyword} exec form must be a JSON array of strings`);
  }
  return value as string[];
}

/** `--name=value` flags and the remaining words of a shell-form instruction (no quoting in these files). */
export function flagsAndWords(args: string): { flags: Map<string, string>; words: string[] } {
  const flags = new Map<string, string>();
  const words: string[] = [];
  for (const word of args.split(/\s+/).filter((token) => token !== '')) {
    const flag = /^--([a-z-]+)(?:=(.*))?$/.exec(word);
    if (flag !== null && words.length === 0) flags.set(flag[1]!, flag[2] ?? 'true');
    else words.push(word);
  }
  return { flags, words };
}

function parseFrom(instruction: Instruction, index: number): { base: string; name?: string } {
  const { words } = flagsAndWords(instruction.args);
  if (words.length === 1) return { base: words[0]! };
  if (words.length === 3 && words[1]!.toUpperCase() === 'AS' && /^[a-z][a-z0-9._-]*$/.test(words[2]!))
    return { base: words[0]!, name: words[2]! };
  throw new ContainerfileSyntaxError(
    instruction.line,
    `FROM of stage ${index} must be 'FROM <image> [AS <lower-case name>]', but got 'FROM ${instruction.args}'`,
  );
}

/**
 * Parses a Containerfile and checks what a builder would reject before building anything: unknown
 * instructions, anything but ARG before the first FROM, duplicate stage names, malformed exec forms,
 * heredocs (unsupported here), and `COPY --from`/`FROM` references to stages not defined before.
 *
 * @example
 *   const file = parseContainerfile(readFileSync('Containerfile.cpu', 'utf8'));
 *   file.stages.at(-1)?.instructions.find((i) => i.keyword === 'USER')?.args; // '10001:10001'
 */
export function parseContainerfile(text: string): Containerfile {
  const globalArgs: Instruction[] = [];
  const stages: { index: number; base: string; name?: string; instructions: Instruction[] }[] = [];
  for (const { text: line, line: lineNo } of logicalLines(text)) {
    const match = /^(\S+)\s*(.*)$/.exec(line);
    const keyword = match![1]!.toUpperCase();
    if (!(INSTRUCTIONS as readonly string[]).includes(keyword))
      throw new ContainerfileSyntaxError(lineNo, `unknown instruction '${match![1]}'`);
    const instruction: Instruction = { keyword: keyword as Keyword, args: match![2]!, line: lineNo };
    if (/<<-?["']?[A-Za-z_]/.test(instruction.args) && (keyword === 'RUN' || keyword === 'COPY')) {
      throw new ContainerfileSyntaxError(lineNo, 'heredocs are not supported by this reader');
    }
    if (JSON_FORMS.has(instruction.keyword)) execForm(instruction);
    if (keyword === 'FROM') {
      const { base, name } = parseFrom(instruction, stages.length);
      if (name !== undefined && stages.some((s) => s.name === name))
        throw new ContainerfileSyntaxError(lineNo, `stage name '${name}' is used twice`);
      stages.push({ index: stages.length, base, ...(name === undefined ? {} : { name }), instructions: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (stage === undefined) {
      if (keyword !== 'ARG') throw new ContainerfileSyntaxError(lineNo, `only ARG may come before the first FROM, but got ${keyword}`);
      globalArgs.push(instruction);
      continue;
    }
    if (keyword === 'COPY') {
      const from = flagsAndWords(instruction.args).flags.get('from');
      if (from !== undefined && !isEarlierStage(from, stages.length - 1, stages) && !looksLikeImage(from)) {
        throw new ContainerfileSyntaxError(
          lineNo,
          `COPY --from=${from} names no earlier stage (stages so far: ${stages.map((s) => s.name ?? s.index).join(', ')})`,
        );
      }
    }
    stage.instructions.push(instruction);
  }
  if (stages.length === 0) throw new ContainerfileSyntaxError(1, 'no FROM instruction');
  return { globalArgs, stages };
}

function isEarlierStage(ref: string, current: number, stages: readonly { index: number; name?: string }[]): boolean {
  return stages.some((s) => s.index < current && (s.name === ref || String(s.index) === ref));
}

/** A registry image reference rather than a stage name: has a registry/path or a tag/digest. */
function looksLikeImage(ref: string): boolean {
  return /[/:@]/.test(ref);
}

/** The stage a FROM line builds on, when it names an earlier stage; undefined for an image. */
export function parentStage(file: Containerfile, stage: Stage): Stage | undefined {
  return file.stages.find((s) => s.index < stage.index && s.name === stage.base);
}

/** The sources of a COPY from the build context (not `--from`), as written. */
export function contextSources(instruction: Instruction): string[] {
  if (instruction.keyword !== 'COPY' && instruction.keyword !== 'ADD') return [];
  const exec = execForm(instruction);
  if (exec !== undefined) return exec.slice(0, -1);
  const { flags, words } = flagsAndWords(instruction.args);
  if (flags.has('from')) return [];
  return words.slice(0, -1);
}

/** `ENV k=v k2=v2` pairs of one instruction (the `ENV k v` legacy form too). No quoting in these files. */
export function envPairs(instruction: Instruction): Map<string, string> {
  const env = new Map<string, string>();
  const words = instruction.args.split(/\s+/).filter((word) => word !== '');
  if (words.length === 2 && !words[0]!.includes('=')) {
    env.set(words[0]!, words[1]!);
    return env;
  }
  for (const word of words) {
    const eq = word.indexOf('=');
    if (eq <= 0) throw new ContainerfileSyntaxError(instruction.line, `ENV word '${word}' is not name=value`);
    env.set(word.slice(0, eq), word.slice(eq + 1));
  }
  return env;
}

/** The default value of a global ARG, when it has one. */
export function argDefault(file: Containerfile, name: string): string | undefined {
  for (const arg of file.globalArgs) {
    const [key, value] = arg.args.split('=', 2);
    if (key === name) return value;
  }
  return undefined;
}
