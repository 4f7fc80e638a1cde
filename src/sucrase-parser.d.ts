// The part of sucrase's (untyped deep-import) parser that source.ts uses to find `import(` tokens.
declare module 'sucrase/dist/parser/index.js' {
  export function parse(
    input: string,
    isJSXEnabled: boolean,
    isTypeScriptEnabled: boolean,
    isFlowEnabled: boolean,
  ): { tokens: { type: number; start: number; end: number }[] };
}
declare module 'sucrase/dist/parser/tokenizer/types.js' {
  export const TokenType: { readonly _import: number; readonly parenL: number };
}
