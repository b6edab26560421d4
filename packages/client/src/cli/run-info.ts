/** `ftget stat` and `ftget ls`: one request each, human or JSON output on stdout. */
import { ExitCode } from '../exit-codes.js';
import { list } from '../list.js';
import type { RemoteEntry } from '../list.js';
import { formatServer, parsePort, resolveServer } from '../remote.js';
import type { Remote } from '../remote.js';
import { parseLinkedRemote } from '../signed-link.js';
import { stat } from '../stat.js';
import { humanBytes, reportError, reportWarning } from './report.js';

interface InfoFlags {
  host: string | undefined;
  port: string | undefined;
  json: boolean;
  timeout: number;
  /** stat --udp. */
  udp?: boolean;
}

function remoteFor(text: string, flags: InfoFlags): Remote {
  const defaults = resolveServer(
    { host: flags.host, port: flags.port === undefined ? undefined : parsePort(flags.port) },
    process.env,
  );
  return parseLinkedRemote(text, flags, defaults);
}

export async function runStat(text: string, flags: InfoFlags): Promise<ExitCode> {
  let server: string | undefined;
  try {
    const remote = remoteFor(text, flags);
    server = formatServer(remote);
    const st = await stat({
      remote,
      timeoutMs: flags.timeout,
      ...(flags.udp === true ? { transport: 'udp' as const } : {}),
    });
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(st)}\n`);
    } else {
      const lines = [
        `path:      /${st.path}`,
        `kind:      ${st.kind}`,
        `size:      ${st.size} (${humanBytes(st.size)})`,
        `modified:  ${st.mtime}`,
        `validator: ${st.validator}`,
      ];
      if (st.sha256 !== undefined) lines.push(`sha256:    ${st.sha256}`);
      if (st.digest !== undefined)
        lines.push(`digest:    sha256-chunks:${st.digest} (chunk size ${st.chunkSize})`);
      process.stdout.write(`${lines.join('\n')}\n`);
    }
    return ExitCode.OK;
  } catch (error) {
    return reportError(error, server === undefined ? {} : { server });
  }
}

/** "dir/", "file", "self -> /looptree/" (a link's target is root-relative), "up -> ?" (unservable). */
function showEntry(name: string, e: RemoteEntry): string {
  const slash = e.kind === 'directory' ? '/' : '';
  if (e.link === 'unservable') return `${name} -> ?`;
  if (e.link === 'inside') return `${name} -> /${e.target ?? ''}${e.target === '' ? '' : slash}`;
  return `${name}${slash}`;
}

export async function runLs(
  text: string,
  flags: InfoFlags & {
    long: boolean;
    recursive: boolean;
    followLinks: boolean;
    maxDepth: number | undefined;
  },
): Promise<ExitCode> {
  let server: string | undefined;
  try {
    const remote = remoteFor(text, flags);
    server = formatServer(remote);
    const entries = await list({
      remote,
      recursive: flags.recursive,
      timeoutMs: flags.timeout,
      followLinks: flags.followLinks,
      ...(flags.maxDepth === undefined ? {} : { maxDepth: flags.maxDepth }),
      onNotice: reportWarning,
    });
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(entries)}\n`);
      return ExitCode.OK;
    }
    const lines = entries.map((e) => {
      const name = flags.recursive ? e.relativePath : e.name;
      const shown = showEntry(name, e);
      if (!flags.long) return shown;
      const kind =
        e.link !== 'none' ? 'l' : e.kind === 'directory' ? 'd' : e.kind === 'file' ? '-' : '?';
      return `${kind} ${String(e.size).padStart(12)} ${new Date(e.mtimeMs).toISOString()} ${shown}`;
    });
    if (lines.length > 0) process.stdout.write(`${lines.join('\n')}\n`);
    return ExitCode.OK;
  } catch (error) {
    return reportError(error, server === undefined ? {} : { server });
  }
}
