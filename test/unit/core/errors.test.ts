import { describe, expect, it } from 'vitest';
import { describeError } from '../../../src/core/errors.ts';

/**
 * WebAssembly glue throws things that are not Errors: emscripten's ExitStatus (a plain object with
 * name, message and status) when a codec calls exit(), a number (a C++ exception's address), a
 * string from wasm-bindgen. Whatever reaches a log or a reason record must read as a message.
 */
describe('describeError', () => {
  it('shows an Error as its name and message', () => {
    expect(describeError(new RangeError('too far'))).toBe('RangeError: too far');
    expect(describeError(new Error(''))).toBe('Error');
  });

  it('reads name and message from an error-like object such as emscripten’s ExitStatus', () => {
    class ExitStatus {
      name = 'ExitStatus';
      message: string;
      status: number;
      constructor(status: number) {
        this.message = `Program terminated with exit(${status})`;
        this.status = status;
      }
    }
    expect(describeError(new ExitStatus(1))).toBe('ExitStatus: Program terminated with exit(1)');
    expect(describeError({ message: 'no name' })).toBe('Error: no name');
  });

  it('never gives [object Object] for a value without a message', () => {
    expect(describeError({ status: 3, code: 'E' })).toBe('a thrown {"status":3,"code":"E"} of type object');
    const circular: Record<string, unknown> = { a: 1 };
    circular.self = circular;
    expect(describeError(circular)).not.toContain('[object Object]');
    expect(describeError(Object.create(null))).not.toContain('[object Object]');
  });

  it('names numbers, strings and nothing', () => {
    expect(describeError(5_243_008)).toBe('a thrown 5243008 of type number');
    expect(describeError('unwrap on an Err value')).toBe('unwrap on an Err value');
    expect(describeError(undefined)).toBe('a thrown nothing');
    expect(describeError(null)).toBe('a thrown null');
  });
});
