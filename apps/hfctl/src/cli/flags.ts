/**
 * Flags as etcdctl (spf13/pflag 1.0.1) parses them: --name, --name=value,
 * --name value, -x, -xvalue, -x=value, bundled booleans, "--" ending the
 * flags, flags and arguments interspersed, and pflag's error texts.
 */
import { goDuration } from '../format/go.js';
import { parseCsvRecord, parseGoBool, parseGoDuration, parseGoInt, ValueError } from './values.js';

export type FlagKind = 'bool' | 'string' | 'int64' | 'duration' | 'stringSlice';

export interface FlagSpec {
  readonly name: string;
  readonly shorthand?: string;
  readonly usage: string;
  readonly kind: FlagKind;
  /** The default, as text the flag would parse (booleans "true"/"false", durations "5s", slices "a,b"). */
  readonly defaultText?: string;
}

export class FlagError extends Error {}

/** The user asked for help (-h, --help). */
export class HelpRequested extends Error {}

export class Flag {
  changed = false;
  private boolValue = false;
  private stringValue = '';
  private intValue = 0n;
  private sliceValue: string[] = [];
  /** How pflag shows the default in usage (DefValue). */
  readonly defValue: string;

  constructor(readonly spec: FlagSpec) {
    const text = spec.defaultText ?? (spec.kind === 'bool' ? 'false' : spec.kind === 'int64' ? '0' : spec.kind === 'duration' ? '0s' : '');
    this.assign(text);
    this.changed = false;
    this.defValue = this.text;
  }

  get name(): string {
    return this.spec.name;
  }

  /** pflag's NoOptDefVal: a boolean needs no value. */
  get noOptDefVal(): string {
    return this.spec.kind === 'bool' ? 'true' : '';
  }

  /** pflag's Value.Type(), which decides whether usage quotes the default. */
  get typeName(): string {
    return this.spec.kind;
  }

  /** Sets the flag from text, as the command line or an environment variable gives it. */
  set(text: string): void {
    try {
      this.assign(text);
    } catch (error) {
      if (!(error instanceof ValueError)) throw error;
      const flagName = this.spec.shorthand !== undefined ? `-${this.spec.shorthand}, --${this.spec.name}` : `--${this.spec.name}`;
      throw new FlagError(`invalid argument ${JSON.stringify(text)} for ${JSON.stringify(flagName)} flag: ${error.message}`);
    }
    this.changed = true;
  }

  private assign(text: string): void {
    switch (this.spec.kind) {
      case 'bool':
        this.boolValue = parseGoBool(text);
        break;
      case 'string':
        this.stringValue = text;
        break;
      case 'int64':
        this.intValue = parseGoInt(text, 0);
        break;
      case 'duration':
        this.intValue = parseGoDuration(text);
        break;
      case 'stringSlice': {
        const values = parseCsvRecord(text);
        this.sliceValue = this.changed ? [...this.sliceValue, ...values] : values;
        break;
      }
    }
  }

  /** The value as pflag's Value.String() shows it. */
  get text(): string {
    switch (this.spec.kind) {
      case 'bool':
        return String(this.boolValue);
      case 'string':
        return this.stringValue;
      case 'int64':
        return this.intValue.toString();
      case 'duration':
        return goDuration(this.intValue);
      case 'stringSlice':
        return `[${this.sliceValue.join(',')}]`;
    }
  }

  get bool(): boolean {
    return this.boolValue;
  }
  get string(): string {
    return this.stringValue;
  }
  get int(): bigint {
    return this.intValue;
  }
  /** A duration in milliseconds. */
  get durationMs(): number {
    return Number(this.intValue / 1_000_000n);
  }
  get strings(): readonly string[] {
    return this.sliceValue;
  }
}

export interface ParseResult {
  readonly args: string[];
  /** Number of arguments before "--" (-1 without one), as cobra's ArgsLenAtDash. */
  readonly argsLenAtDash: number;
}

/** A set of flags, looked up by name and by shorthand. */
export class FlagSet {
  private readonly byName = new Map<string, Flag>();
  private readonly byShorthand = new Map<string, Flag>();

  add(flag: Flag): void {
    if (this.byName.has(flag.name)) return;
    this.byName.set(flag.name, flag);
    if (flag.spec.shorthand !== undefined) this.byShorthand.set(flag.spec.shorthand, flag);
  }

  get(name: string): Flag | undefined {
    return this.byName.get(name);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  byShort(shorthand: string): Flag | undefined {
    return this.byShorthand.get(shorthand);
  }

  /** Flags sorted by name, as pflag visits them. */
  sorted(): Flag[] {
    return [...this.byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  get size(): number {
    return this.byName.size;
  }

  /** Parses flags out of `args`; arguments and flags may be interspersed. Throws FlagError. */
  parse(input: readonly string[]): ParseResult {
    const args: string[] = [];
    let argsLenAtDash = -1;
    let rest = [...input];
    while (rest.length > 0) {
      const s = rest.shift()!;
      if (s.length === 0 || s[0] !== '-' || s.length === 1) {
        args.push(s);
        continue;
      }
      if (s[1] === '-') {
        if (s.length === 2) {
          argsLenAtDash = args.length;
          args.push(...rest);
          break;
        }
        rest = this.parseLong(s, rest);
      } else {
        let shorthands = s.slice(1);
        while (shorthands.length > 0) [shorthands, rest] = this.parseSingleShort(shorthands, rest);
      }
    }
    return { args, argsLenAtDash };
  }

  private parseLong(s: string, rest: string[]): string[] {
    let name = s.slice(2);
    if (name.length === 0 || name[0] === '-' || name[0] === '=') throw new FlagError(`bad flag syntax: ${s}`);
    const equals = name.indexOf('=');
    const inlineValue = equals >= 0 ? name.slice(equals + 1) : undefined;
    if (equals >= 0) name = name.slice(0, equals);
    const flag = this.byName.get(name);
    if (flag === undefined) {
      if (name === 'help') throw new HelpRequested();
      throw new FlagError(`unknown flag: --${name}`);
    }
    let value: string;
    if (inlineValue !== undefined) value = inlineValue;
    else if (flag.noOptDefVal !== '') value = flag.noOptDefVal;
    else if (rest.length > 0) value = rest.shift()!;
    else throw new FlagError(`flag needs an argument: ${s}`);
    flag.set(value);
    return rest;
  }

  private parseSingleShort(shorthands: string, rest: string[]): [string, string[]] {
    const c = shorthands[0]!;
    let outShorts = shorthands.slice(1);
    const flag = this.byShorthand.get(c);
    if (flag === undefined) {
      if (c === 'h') throw new HelpRequested();
      throw new FlagError(`unknown shorthand flag: '${c}' in -${shorthands}`);
    }
    let value: string;
    if (shorthands.length > 2 && shorthands[1] === '=') {
      value = shorthands.slice(2);
      outShorts = '';
    } else if (flag.noOptDefVal !== '') value = flag.noOptDefVal;
    else if (shorthands.length > 1) {
      value = shorthands.slice(1);
      outShorts = '';
    } else if (rest.length > 0) value = rest.shift()!;
    else throw new FlagError(`flag needs an argument: '${c}' in -${shorthands}`);
    flag.set(value);
    return [outShorts, rest];
  }
}
