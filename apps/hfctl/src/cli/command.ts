/**
 * A command tree with etcdctl's behaviour (spf13/cobra 0.0.3 as etcd 3.4
 * uses it): subcommands found by name or unique prefix, persistent flags
 * inherited by subcommands, -h/--help, "unknown command" with suggestions,
 * and etcdctl's own help template (rendered through Go's tabwriter).
 */
import { TabWriter } from '../format/tabwriter.js';
import { goQuote } from '../format/go.js';
import { CliExit, ExitCode } from './exit.js';
import { Flag, FlagError, FlagSet, HelpRequested, type FlagSpec } from './flags.js';
import { err, errLine, out } from './io.js';

export interface Invocation {
  readonly command: Command;
  /** Positional arguments, flags removed. */
  readonly args: string[];
  /** How many positional arguments came before "--" (-1: no "--"). */
  readonly argsLenAtDash: number;
  /** The whole command line after the program name, as typed. */
  readonly rawArgs: readonly string[];
}

export interface CommandSpec {
  readonly use: string;
  readonly short: string;
  readonly long?: string;
  readonly flags?: readonly FlagSpec[];
  readonly persistentFlags?: readonly FlagSpec[];
  readonly run?: (invocation: Invocation) => Promise<void>;
  readonly subcommands?: readonly Command[];
  /** Left out of help listings (still runnable). */
  readonly hidden?: boolean;
  /** Offered in "Did you mean this?" (default true; hfctl's additions are not, so etcdctl's typos read the same). */
  readonly suggested?: boolean;
}

/** What the root prints in its help. */
export interface ProgramInfo {
  readonly version: string;
  readonly apiVersion: string;
}

export class Command {
  parent: Command | undefined;
  readonly commands: Command[] = [];
  private readonly ownFlags: Flag[];
  private readonly ownPersistentFlags: Flag[];
  private readonly helpFlag: Flag;
  programInfo: ProgramInfo = { version: '', apiVersion: '' };

  constructor(readonly spec: CommandSpec) {
    this.ownFlags = (spec.flags ?? []).map((flagSpec) => new Flag(flagSpec));
    this.ownPersistentFlags = (spec.persistentFlags ?? []).map((flagSpec) => new Flag(flagSpec));
    for (const sub of spec.subcommands ?? []) this.addCommand(sub);
    this.helpFlag = new Flag({ name: 'help', shorthand: 'h', usage: `help for ${this.name}`, kind: 'bool' });
  }

  addCommand(command: Command): void {
    command.parent = this;
    this.commands.push(command);
    this.commands.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  get name(): string {
    return this.spec.use.split(' ')[0]!;
  }

  get runnable(): boolean {
    return this.spec.run !== undefined;
  }

  get root(): Command {
    return this.parent === undefined ? this : this.parent.root;
  }

  get commandPath(): string {
    return this.parent === undefined ? this.name : `${this.parent.commandPath} ${this.name}`;
  }

  get useLine(): string {
    const line = this.parent === undefined ? this.spec.use : `${this.parent.commandPath} ${this.spec.use}`;
    return line.includes('[flags]') ? line : `${line} [flags]`;
  }

  /** Persistent flags of the ancestors (cobra's InheritedFlags), nearest first. */
  inheritedFlags(): FlagSet {
    const set = new FlagSet();
    const local = new Set([...this.ownFlags, ...this.ownPersistentFlags].map((flag) => flag.name));
    for (let ancestor = this.parent; ancestor !== undefined; ancestor = ancestor.parent) {
      for (const flag of ancestor.ownPersistentFlags) if (!local.has(flag.name)) set.add(flag);
    }
    return set;
  }

  /** The command's own flags, its persistent ones and help (cobra's LocalFlags). */
  localFlags(): FlagSet {
    const set = new FlagSet();
    for (const flag of [...this.ownFlags, ...this.ownPersistentFlags]) set.add(flag);
    if (!set.has('help')) set.add(this.helpFlag);
    return set;
  }

  /** Every flag the command accepts. */
  allFlags(): FlagSet {
    const set = this.localFlags();
    for (const flag of this.inheritedFlags().sorted()) set.add(flag);
    return set;
  }

  /** A flag this command accepts, by name (throws if there is none: a programming error). */
  flag(name: string): Flag {
    const flag = this.allFlags().get(name);
    if (flag === undefined) throw new Error(`command ${this.commandPath} has no flag --${name}`);
    return flag;
  }

  private hasAvailableSubcommands(): boolean {
    return this.commands.some((command) => command.isAvailable());
  }

  private isAvailable(): boolean {
    return !(this.spec.hidden ?? false) && (this.runnable || this.hasAvailableSubcommands());
  }

  /** The subcommand named `next`, or the only one it is a prefix of. */
  private findNext(next: string): Command | undefined {
    const matches: Command[] = [];
    for (const command of this.commands) {
      if (command.name === next) return command;
      if (command.name.startsWith(next)) matches.push(command);
    }
    return matches.length === 1 ? matches[0] : undefined;
  }

  /** cobra's stripFlags: the words that may name subcommands. */
  private stripFlags(args: readonly string[]): string[] {
    const flags = this.allFlags();
    const commands: string[] = [];
    const rest = [...args];
    while (rest.length > 0) {
      const s = rest.shift()!;
      if (s === '--') break;
      // A flag that takes a value (or an unknown one) swallows the next word.
      const longWithoutValue = s.startsWith('--') && !s.includes('=') && (flags.get(s.slice(2))?.noOptDefVal ?? '') === '';
      const shortNeedsValue = s.startsWith('-') && !s.startsWith('--') && !s.includes('=') && s.length === 2 && (flags.byShort(s.slice(1))?.noOptDefVal ?? '') === '';
      if (longWithoutValue || shortNeedsValue) {
        if (rest.length <= 1) break;
        rest.shift();
        continue;
      }
      if (s !== '' && !s.startsWith('-')) commands.push(s);
    }
    return commands;
  }

  /** cobra's Find: the command the words name, and the arguments left for it. */
  find(args: readonly string[]): { command: Command; args: string[] } {
    let command: Command = this;
    let rest = [...args];
    for (;;) {
      const words = command.stripFlags(rest);
      if (words.length === 0) break;
      const next = command.findNext(words[0]!);
      if (next === undefined) break;
      const index = rest.indexOf(words[0]!);
      rest = [...rest.slice(0, index), ...rest.slice(index + 1)];
      command = next;
    }
    // The root refuses a word that names no command (cobra's legacyArgs).
    if (command.parent === undefined && command.commands.length > 0) {
      const words = command.stripFlags(rest);
      if (words.length > 0) {
        throw new UnknownCommandError(`unknown command ${goQuote(words[0]!)} for ${goQuote(command.commandPath)}${command.suggestionsFor(words[0]!)}`, command);
      }
    }
    return { command, args: rest };
  }

  private suggestionsFor(typed: string): string {
    const suggestions: string[] = [];
    for (const command of this.commands) {
      if (!command.isAvailable() || command.spec.suggested === false) continue;
      const close = levenshtein(typed.toLowerCase(), command.name.toLowerCase()) <= 2;
      const prefix = command.name.toLowerCase().startsWith(typed.toLowerCase());
      if (close || prefix) suggestions.push(command.name);
    }
    if (suggestions.length === 0) return '';
    return `\n\nDid you mean this?\n${suggestions.map((name) => `\t${name}\n`).join('')}`;
  }

  /** etcdctl's help text for this command. */
  usage(): string {
    const writer = new TabWriter();
    const root = this.root;
    const cmdName = (command: Command, start: Command): string => {
      const parts = [command.name];
      for (let c = command; c.parent !== undefined && c.parent.name !== start.name; c = c.parent) parts.unshift(c.parent.name);
      return parts.join(' ');
    };
    let text = 'NAME:\n';
    text += this.parent === undefined ? `\t${this.name} - ${this.spec.short}\n` : `\t${cmdName(this, root)} - ${this.spec.short}\n`;
    text += `\nUSAGE:\n\t${this.useLine}\n`;
    if (this.parent === undefined) text += `\nVERSION:\n\t${root.programInfo.version}\n`;
    if (this.commands.length > 0) {
      text += `\nAPI VERSION:\n\t${root.programInfo.apiVersion}\n`;
      text += '\n\nCOMMANDS:\n';
      const all: Command[] = [];
      const collect = (command: Command): void => {
        for (const sub of command.commands) {
          all.push(sub);
          collect(sub);
        }
      };
      collect(this);
      for (const sub of all) if (sub.runnable && !(sub.spec.hidden ?? false)) text += `\t${cmdName(sub, this)}\t${sub.spec.short}\n`;
    }
    if (this.spec.long !== undefined && this.spec.long !== '') {
      text += '\nDESCRIPTION:\n';
      for (const line of this.spec.long.replace(/^[\n\t ]+|[\n\t ]+$/g, '').split('\n')) text += `\t${line}\n`;
    }
    const local = this.localFlags();
    if (local.size > 0) text += `\nOPTIONS:\n${flagUsages(local)}`;
    const inherited = this.inheritedFlags();
    if (inherited.size > 0) text += `\nGLOBAL OPTIONS:\n${flagUsages(inherited)}`;
    text += '\n';
    writer.write(text);
    return writer.flush();
  }

  /**
   * Runs the command line `argv` (without the program name). Resolves with
   * the exit code; commands end early by throwing CliExit.
   */
  async execute(argv: readonly string[]): Promise<number> {
    let found: { command: Command; args: string[] };
    try {
      found = this.find(argv);
    } catch (error) {
      if (!(error instanceof UnknownCommandError)) throw error;
      errLine(`Error: ${error.message}`);
      errLine(`Run '${error.command.commandPath} --help' for usage.`);
      throw new CliExit(ExitCode.error, error.message);
    }
    const { command } = found;
    const flags = command.allFlags();
    let parsed;
    try {
      parsed = flags.parse(found.args);
    } catch (error) {
      if (error instanceof HelpRequested) {
        out(command.usage());
        return ExitCode.success;
      }
      if (!(error instanceof FlagError)) throw error;
      // cobra prints the error and the usage; etcdctl then prints the error again.
      errLine(`Error: ${error.message}`);
      out(command.usage());
      err('\n');
      throw new CliExit(ExitCode.error, error.message);
    }
    if (command.flag('help').bool || !command.runnable) {
      out(command.usage());
      return ExitCode.success;
    }
    await command.spec.run!({ command, args: parsed.args, argsLenAtDash: parsed.argsLenAtDash, rawArgs: argv });
    return ExitCode.success;
  }
}

export class UnknownCommandError extends Error {
  constructor(
    message: string,
    readonly command: Command,
  ) {
    super(message);
  }
}

/** etcdctl's flag listing (etcdFlagUsages in etcdctl/ctlv3/help.go). */
function flagUsages(flags: FlagSet): string {
  let text = '';
  for (const flag of flags.sorted()) {
    let line = flag.spec.shorthand !== undefined ? `  -${flag.spec.shorthand}, --${flag.name}` : `      --${flag.name}`;
    const optional = flag.noOptDefVal !== '';
    if (optional) line += '[';
    line += flag.typeName === 'string' ? `=${goQuote(flag.defValue)}` : `=${flag.defValue}`;
    if (optional) line += ']';
    text += `${line}\t${flag.spec.usage}\n`;
  }
  return text;
}

/** Levenshtein distance (cobra's ld with ignoreCase done by the caller). */
function levenshtein(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
    }
  }
  return d[a.length]![b.length]!;
}
