/**
 * Packet loss without netem: a network namespace of our own whose loopback drops a random
 * fraction of packets with an nftables `numgen random` rule on the prerouting hook. Every packet
 * on lo passes that hook once, so the loss applies independently to each direction, to TCP and
 * UDP alike — the servers and clients of the loss section all run inside the namespace. (A drop
 * on the output hook would not do: sendto() then fails with EPERM, which the sender notices,
 * unlike a packet lost on the wire.)
 */
import { execFileSync } from 'node:child_process';
import process from 'node:process';
import { capture } from './proc.mjs';

const TABLE = 'ftbench';

/** Creates the namespace; returns {name, setLoss(percent), destroy()} or throws with a reason. */
export async function createLossNamespace() {
  if (process.getuid?.() !== 0) throw new Error('needs root (ip netns, nft)');
  const name = `ftbench-${process.pid}`;
  const inNs = (...argv) => capture(['ip', 'netns', 'exec', name, ...argv], 15_000);
  await capture(['ip', 'netns', 'add', name], 15_000);
  const destroy = () => {
    try {
      execFileSync('ip', ['netns', 'delete', name], { stdio: 'ignore', timeout: 10_000 });
    } catch {
      // already gone
    }
  };
  try {
    await inNs('ip', 'link', 'set', 'lo', 'up');
    // Some daemons (tftpd-hpa) resolve their address with AI_ADDRCONFIG, which fails when the
    // namespace has no non-loopback address: give it an idle veth pair with one.
    await inNs('ip', 'link', 'add', 'ftb0', 'type', 'veth', 'peer', 'name', 'ftb1');
    await inNs('ip', 'addr', 'add', '10.254.254.1/30', 'dev', 'ftb0');
    await inNs('ip', 'link', 'set', 'ftb0', 'up');
    await inNs('ip', 'link', 'set', 'ftb1', 'up');
    await inNs('nft', 'add', 'table', 'inet', TABLE);
    await inNs(
      'nft',
      `add chain inet ${TABLE} in { type filter hook prerouting priority 0; policy accept; }`,
    );
  } catch (error) {
    destroy();
    throw error;
  }
  return {
    name,
    /** Drops `percent` % of the packets arriving on lo (0 removes the rule). */
    async setLoss(percent) {
      await inNs('nft', 'flush', 'chain', 'inet', TABLE, 'in');
      const perTenThousand = Math.round(percent * 100);
      if (perTenThousand > 0) {
        await inNs(
          'nft',
          `add rule inet ${TABLE} in iifname "lo" numgen random mod 10000 < ${perTenThousand} drop`,
        );
      }
    },
    destroy,
  };
}
