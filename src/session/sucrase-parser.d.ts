// The part of sucrase's (untyped deep-import) parser that source.ts uses to find `import(` and
// `export` tokens.
declare module 'sucrase/dist/parser/index.js' {
  export function parse(
    input: string,
    isJSXEnabled: boolean,
    isTypeScriptEnabled: boolean,
    isFlowEnabled: boolean,
  ): { tokens: { type: number; start: number; end: number }[] };
}
declare module 'sucrase/dist/parser/tokenizer/types.js' {
  export const TokenType: {
    readonly _import: number;
    readonly _export: number;
    readonly _default: number;
    readonly _function: number;
    readonly _class: number;
    readonly parenL: number;
    readonly braceL: number;
    readonly braceR: number;
    readonly star: number;
    readonly name: number;
  };
}
