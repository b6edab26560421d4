/**
 * Directory listings in two steps, so that a LIST answer can be built one frame at a time:
 * `open` reads and sorts the servable names (the only part that must see the whole directory),
 * `describe` stats a slice of them. A listing in progress then holds its names and one frame's
 * entries, not every entry's description at once: what a connection costs while its client
 * takes the frames is about the names' size, whatever the number of frames.
 */
import { lstat, opendir, stat as fsStat } from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import { sep } from 'node:path';
import { EntryKind, FtError, LinkKind, WireError } from '@ft/protocol';
import type { ListEntry } from '@ft/protocol';
import { PathJail, parseRequestPath } from './path-jail.js';
import { kindOf, msOf } from './stat-fields.js';

/** The sorted servable names of one directory, to be described slice by slice. */
export interface Listing {
  /** Real path of the directory. */
  readonly real: string;
  /** The request path without trailing slashes ('' for the root). */
  readonly prefix: string;
  readonly names: readonly string[];
}

/** Most entries described at once (stat calls in flight per listing). */
const DESCRIBE_BATCH = 64;

export class DirectoryLister {
  constructor(
    private readonly jail: PathJail,
    private readonly options: { dotfiles: boolean },
    private readonly maxEntries: number,
  ) {}

  /**
   * The servable names of a directory, sorted (UTF-16 code unit order). Throws an FtError:
   * NOT_A_DIRECTORY, TOO_LARGE beyond `maxEntries` names, or what the jail refuses.
   */
  async open(path: string): Promise<Listing> {
    const real = await this.jail.resolve(path);
    const st = await fsStat(real);
    if (!st.isDirectory())
      throw refuse(WireError.NOT_A_DIRECTORY, 'FT_NOT_A_DIRECTORY', `${path}: not a directory`);
    const names: string[] = [];
    const dir = await opendir(real, { bufferSize: 256 });
    for await (const entry of dir) {
      if (!this.servable(entry.name)) continue;
      if (names.length >= this.maxEntries) {
        await dir.close().catch(() => {});
        throw refuse(
          WireError.TOO_LARGE,
          'FT_TOO_LARGE',
          `${path}: more than ${this.maxEntries} entries`,
        );
      }
      names.push(entry.name);
    }
    names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return { real, prefix: path.replace(/\/+$/, ''), names };
  }

  /**
   * Entries for `names` (a slice of `listing.names`), in their order. A name that vanished since
   * `open` is left out. A symlink that stays inside shows as what it points to; with `links` it
   * is marked INSIDE with its root-relative target, and one leading outside (or nowhere) is
   * listed as UNSERVABLE instead of being left out.
   */
  async describe(listing: Listing, names: readonly string[], links: boolean): Promise<ListEntry[]> {
    const entries: ListEntry[] = [];
    for (let i = 0; i < names.length; i += DESCRIBE_BATCH) {
      const batch = await Promise.all(
        names.slice(i, i + DESCRIBE_BATCH).map((name) => this.describeOne(listing, name, links)),
      );
      for (const e of batch) if (e !== undefined) entries.push(e);
    }
    return entries;
  }

  /** True if a directory entry's name could be requested back through the jail. */
  private servable(name: string): boolean {
    try {
      return parseRequestPath(name, this.options).length === 1;
    } catch {
      return false;
    }
  }

  private async describeOne(
    listing: Listing,
    name: string,
    links: boolean,
  ): Promise<ListEntry | undefined> {
    let link: ListEntry['link'] = LinkKind.NONE;
    let target = '';
    let st: BigIntStats;
    try {
      st = await lstat(`${listing.real}/${name}`, { bigint: true });
    } catch {
      return undefined;
    }
    if (st.isSymbolicLink()) {
      try {
        // Follow it through the jail: links leading outside (or to dotfiles) are unservable.
        const prefix = listing.prefix;
        const real = await this.jail.resolve(prefix === '' ? name : `${prefix}/${name}`);
        st = await fsStat(real, { bigint: true });
        link = LinkKind.INSIDE;
        target = this.rootRelative(real);
      } catch {
        if (!links) return undefined;
        return {
          kind: EntryKind.OTHER,
          name,
          size: 0,
          mtimeMs: msOf(st),
          link: LinkKind.UNSERVABLE,
        };
      }
    }
    const kind = kindOf(st);
    const entry: ListEntry = {
      kind,
      name,
      size: kind === EntryKind.FILE ? Number(st.size) : 0,
      mtimeMs: msOf(st),
    };
    return links ? { ...entry, link, target } : entry;
  }

  /** A real path inside the root as a request path ('' for the root itself). */
  private rootRelative(real: string): string {
    if (real === this.jail.root) return '';
    const rest = real
      .slice(this.jail.root.length)
      .split(sep)
      .filter((p) => p !== '');
    return rest.join('/');
  }
}

function refuse(wireCode: number, code: string, message: string): FtError {
  return new FtError(code, message, { wireCode });
}
