// Stellar "strkey" encoding of ed25519 keys: base32(version byte ‖ key ‖ CRC16-XModem),
// with version 6<<3 ("G…", public key) or 18<<3 ("S…", secret seed).
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
export const VERSION_PUBLIC_KEY = 6 << 3;
export const VERSION_SEED = 18 << 3;

function crc16xmodem(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++)
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

function base32Encode(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

function base32Decode(text: string): Uint8Array {
  const out: number[] = [];
  let buffer = 0;
  let bits = 0;
  for (const char of text) {
    const value = ALPHABET.indexOf(char);
    if (value < 0) throw new Error('not base32');
    buffer = (buffer << 5) | value;
    bits += 5;
    if (bits >= 8) {
      out.push((buffer >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Uint8Array.from(out);
}

export function encodeStrkey(version: number, payload: Uint8Array): string {
  const body = new Uint8Array(payload.length + 1);
  body[0] = version;
  body.set(payload, 1);
  const crc = crc16xmodem(body);
  const full = new Uint8Array(body.length + 2);
  full.set(body);
  full[body.length] = crc & 0xff;
  full[body.length + 1] = crc >> 8;
  return base32Encode(full);
}

/** The 32-byte payload of a strkey of the given version, or an error that says what is wrong. */
export function decodeStrkey(version: number, strkey: string): Uint8Array {
  const expected = version === VERSION_SEED ? 'S' : 'G';
  if (strkey.length !== 56 || !strkey.startsWith(expected)) {
    throw new Error(`not a Stellar ${expected === 'S' ? 'secret seed (S…)' : 'public key (G…)'}`);
  }
  const bytes = base32Decode(strkey);
  const body = bytes.subarray(0, 33);
  const crc = bytes[33]! | (bytes[34]! << 8);
  if (body[0] !== version || crc16xmodem(body) !== crc) throw new Error('bad strkey checksum');
  return body.slice(1);
}
