// Code a cell builds at run time (eval, new Function and its async and generator kinds) gets the
// same treatment as the cell's own source: `import(` becomes the sandbox's stand-in, which
// rejects with "Unsupported import in cell: <specifier>". A replaced `eval` is an indirect eval:
// its code runs in the global scope. Loaded with the other sandbox files into one closure.

function codecellGuardDynamicCode(global: Record<string, unknown>): void {
  const rewrite = (code: unknown): unknown =>
    typeof code === 'string' ? code.replace(/\bimport(\s*)\(/g, '$$cc_im$1(') : code;
  const originalEval = global.eval as (code: unknown) => unknown;
  const guardedEval = (code: unknown): unknown => originalEval(rewrite(code));
  Object.defineProperty(global, 'eval', { value: guardedEval, writable: true, configurable: true, enumerable: false });
  const kinds = [
    Function,
    Object.getPrototypeOf(async () => {}).constructor,
    Object.getPrototypeOf(function* () {}).constructor,
    Object.getPrototypeOf(async function* () {}).constructor,
  ] as FunctionConstructor[];
  for (const original of kinds) {
    const guarded = function (this: unknown, ...args: unknown[]): unknown {
      return Reflect.construct(original, args.map(rewrite), new.target ?? original);
    };
    Object.defineProperty(guarded, 'prototype', { value: original.prototype });
    Object.defineProperty(guarded, 'name', { value: original.name });
    Object.defineProperty(original.prototype, 'constructor', {
      value: guarded,
      writable: true,
      configurable: true,
      enumerable: false,
    });
    if (original === Function)
      Object.defineProperty(global, 'Function', {
        value: guarded,
        writable: true,
        configurable: true,
        enumerable: false,
      });
  }
}
