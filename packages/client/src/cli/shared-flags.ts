/** Flags every ftget command shares. Kept free of heavy imports: oclif loads this to show help. */
import { CLIError } from '@oclif/core/errors';
import * as Flags from '@oclif/core/flags';

export const serverFlags = {
  host: Flags.string({
    description: 'server host name or IP address [default: $FTGET_HOST or localhost]',
    helpValue: 'HOST',
  }),
  port: Flags.string({
    description: 'server TCP port [default: $FTGET_PORT or 7070]',
    helpValue: 'PORT',
  }),
  token: Flags.string({
    description:
      'access token for a server started with --tokens [default: $FTGET_TOKEN, then ~/.config/ftget/tokens]',
    helpValue: 'TOKEN',
  }),
  tls: Flags.boolean({
    description: 'use TLS with every server (as fts:// URLs do)',
    default: false,
  }),
  cacert: Flags.string({
    description: 'TLS: trust the CA certificates in this PEM file instead of the system CAs',
    helpValue: 'FILE',
  }),
  pin: Flags.string({
    description:
      "TLS: accept only this server public key: sha256//BASE64 of its SPKI (';' between several)",
    helpValue: 'sha256//BASE64',
  }),
  insecure: Flags.boolean({
    description: 'TLS: do not verify the certificate (warns on every run; --pin still applies)',
    default: false,
  }),
};

export const jsonFlag = {
  json: Flags.boolean({ description: 'print machine-readable JSON on stdout', default: false }),
};

/** A non-negative number of seconds, e.g. "30" or "0.5" (convert with toMs). */
export const seconds = Flags.custom<number>({
  parse: async (input: string) => {
    const value = Number(input);
    if (input.trim() === '' || !Number.isFinite(value) || value < 0 || value > 86_400) {
      throw new CLIError(`expected a number of seconds between 0 and 86400, got "${input}"`);
    }
    return value;
  },
  helpValue: 'SECONDS',
});

export function toMs(seconds: number): number {
  return Math.round(seconds * 1000);
}
