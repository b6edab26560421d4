/** `ftget get -i FILE`: REMOTEs one a line, like wget -i and aria2 -i ('-' reads stdin). */
import { readFile } from 'node:fs/promises';
import { ClientError, ClientErrorCode } from '../errors.js';

/** Largest list file read (a bound on memory, far beyond any sane list). */
export const MAX_LIST_FILE_BYTES = 16 * 1024 * 1024;

async function readStdin(): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    size += (chunk as Buffer).length;
    if (size > MAX_LIST_FILE_BYTES) throw tooLarge('-');
    parts.push(chunk as Buffer);
  }
  return Buffer.concat(parts).toString('utf8');
}

function tooLarge(path: string): ClientError {
  return new ClientError(
    ClientErrorCode.USAGE,
    `--list-file ${path}: larger than ${MAX_LIST_FILE_BYTES} bytes`,
  );
}

/** The REMOTEs of a list file: one a line, blank lines and lines starting with '#' skipped. */
export async function readListFile(path: string): Promise<string[]> {
  let text: string;
  if (path === '-') {
    text = await readStdin();
  } else {
    let data: Buffer;
    try {
      data = await readFile(path);
    } catch (error) {
      throw new ClientError(
        ClientErrorCode.USAGE,
        `--list-file ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
        { cause: error },
      );
    }
    if (data.length > MAX_LIST_FILE_BYTES) throw tooLarge(path);
    text = data.toString('utf8');
  }
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}
