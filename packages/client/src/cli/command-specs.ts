/**
 * The commands and flags of ftget as plain data, read from oclif's command metadata: what the
 * completion scripts and the man page are generated from, so they never drift from --help.
 */
import type { Config } from '@oclif/core';

export interface FlagSpec {
  name: string;
  char: string | undefined;
  description: string;
  /** A boolean with a --no- form. */
  allowNo: boolean;
  /** Takes a value (e.g. --port N), and the allowed values when fixed. */
  value: boolean;
  options: readonly string[] | undefined;
  helpValue: string | undefined;
}

export interface CommandSpec {
  id: string;
  summary: string;
  description: string;
  args: { name: string; description: string; required: boolean }[];
  flags: FlagSpec[];
}

/** Every visible command, sorted by id. */
export function commandSpecs(config: Config): CommandSpec[] {
  return config.commands
    .filter((c) => c.hidden !== true)
    .map((c) => ({
      id: c.id,
      summary: c.summary ?? '',
      description: c.description ?? '',
      args: Object.entries(c.args ?? {}).map(([name, a]) => ({
        name,
        description: a.description ?? '',
        required: a.required === true,
      })),
      flags: Object.entries(c.flags ?? {})
        .filter(([, f]) => f.hidden !== true)
        .map(([name, f]) => ({
          name,
          char: f.char,
          description: f.summary ?? f.description ?? '',
          allowNo: f.type === 'boolean' && f.allowNo === true,
          value: f.type === 'option',
          options: f.type === 'option' ? f.options : undefined,
          helpValue: f.type === 'option' ? (f.helpValue as string | undefined) : undefined,
        })),
    }))
    .sort((a, b) => a.id.localeCompare(b.id));
}
