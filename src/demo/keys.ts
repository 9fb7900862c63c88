// Ephemeral ed25519 key pairs for the demo lab and tests.
import ssh2 from 'ssh2';

export interface KeyPair {
  private: string;
  public: string;
}

/**
 * ssh2 1.17's generateKeyPairSync('ed25519') drops a leading zero byte of the public key about once
 * in 256 calls (a 31-byte key, "Malformed OpenSSH public key" when parsed back: 4 of 3,000 here), so
 * a pair is only handed out after both halves parse; a bounded retry, never an endless loop.
 */
export function generateEd25519KeyPair(): KeyPair {
  for (let attempt = 0; attempt < 16; attempt++) {
    const pair = ssh2.utils.generateKeyPairSync('ed25519');
    if (!(ssh2.utils.parseKey(pair.public) instanceof Error) && !(ssh2.utils.parseKey(pair.private) instanceof Error)) return pair;
  }
  throw new Error('could not generate a parseable ed25519 key pair in 16 attempts');
}
