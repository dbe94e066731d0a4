import assert from 'node:assert/strict';
import { existsSync, openSync, readSync, closeSync, realpathSync } from 'node:fs';
import { describe, test } from 'node:test';
import { classifyElf, ELF_HEAD_BYTES } from '../../src/image/elf.js';
import { elfHeader, PT_DYNAMIC, PT_INTERP, PT_LOAD } from '../helpers/elf.js';

function head(path: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buffer = Buffer.alloc(ELF_HEAD_BYTES);
    const n = readSync(fd, buffer, 0, buffer.length, 0);
    return buffer.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}


describe('classifyElf', () => {
  test('/bin/ls (a PIE: ET_DYN with PT_INTERP) is an executable', () => {
    const bytes = head(realpathSync('/bin/ls'));
    assert.equal(bytes.readUInt16LE(16), 3, 'the host ls is position-independent (ET_DYN)');
    assert.equal(classifyElf(bytes), 'executable');
  });

  test('a shared library without PT_INTERP is a shared library', () => {
    const candidates = ['/usr/lib/x86_64-linux-gnu/libz.so.1', '/lib/x86_64-linux-gnu/libz.so.1', '/usr/lib/x86_64-linux-gnu/libm.so.6'];
    const path = candidates.find((p) => existsSync(p));
    assert.ok(path, `none of ${candidates.join(', ')} exists on this host`);
    assert.equal(classifyElf(head(realpathSync(path))), 'shared-library');
  });

  test('synthetic headers: ET_EXEC, PIE, library, object, core', () => {
    assert.equal(classifyElf(elfHeader({ type: 2, phTypes: [PT_LOAD] })), 'executable');
    assert.equal(classifyElf(elfHeader({ type: 3, phTypes: [PT_LOAD, PT_INTERP, PT_DYNAMIC] })), 'executable');
    assert.equal(classifyElf(elfHeader({ type: 3, phTypes: [PT_LOAD, PT_DYNAMIC] })), 'shared-library');
    assert.equal(classifyElf(elfHeader({ type: 1 })), 'object');
    assert.equal(classifyElf(elfHeader({ type: 4 })), 'core');
    assert.equal(classifyElf(elfHeader({ type: 0xfe00 })), 'other');
  });

  test('32-bit and big-endian headers are read with their own layout', () => {
    assert.equal(classifyElf(elfHeader({ is64: false, type: 3, phTypes: [PT_LOAD, PT_INTERP] })), 'executable');
    assert.equal(classifyElf(elfHeader({ is64: false, type: 3, phTypes: [PT_LOAD] })), 'shared-library');
    assert.equal(classifyElf(elfHeader({ bigEndian: true, type: 3, phTypes: [PT_INTERP] })), 'executable');
    assert.equal(classifyElf(elfHeader({ bigEndian: true, type: 3, phTypes: [PT_LOAD] })), 'shared-library');
    assert.equal(classifyElf(elfHeader({ bigEndian: true, is64: false, type: 2 })), 'executable');
  });

  test('program headers past the bytes read are not invented', () => {
    const full = elfHeader({ type: 3, phTypes: [PT_LOAD, PT_INTERP] });
    assert.equal(classifyElf(full.subarray(0, 64 + 56)), 'shared-library', 'PT_INTERP lies beyond the head');
  });

  test('non-ELF data and too-short heads are undefined', () => {
    assert.equal(classifyElf(Buffer.from('#!/bin/sh\necho hello world, this is a shell script, not ELF\n')), undefined);
    assert.equal(classifyElf(Buffer.alloc(100)), undefined);
    assert.equal(classifyElf(elfHeader({ type: 2 }).subarray(0, 40)), undefined);
    assert.equal(classifyElf(Buffer.alloc(0)), undefined);
  });
});
