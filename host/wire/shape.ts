// The one way the wire checks what a peer sent (STYLE 30): shapes built of a few small checks,
// applied to the value in place — nothing is copied, and a path to what does not fit is made
// only when something does not. The method table's params (protocol.ts) and what a host sends a
// re-homing client (host/client/host-journal-shapes.ts) are declared with them. A schema library
// parsed each message into a copy: ~7 k instructions per tool call for the params alone, and
// ~22 k for the journal that comes with it (`npm run bench:instructions`, issue 66).

/** Where a value does not fit (keys and indexes from the value checked) and what was expected there. */
export interface Misfit {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

/** A check of one value; `T` is what a value that fits is (a type only, never set). */
export interface Shape<T> {
  (value: unknown): Misfit | undefined;
  readonly type?: T;
}

export type Infer<S> = S extends Shape<infer T> ? T : never;

const shape = <T>(check: (value: unknown) => Misfit | undefined): Shape<T> => check as Shape<T>;

const fits = (fit: boolean, expected: string): Misfit | undefined =>
  fit ? undefined : { path: [], message: `expected ${expected}` };

/** A misfit found inside `key` of a value, seen from the value. */
const inside = (key: string | number, misfit: Misfit | undefined): Misfit | undefined =>
  misfit === undefined ? undefined : { path: [key, ...misfit.path], message: misfit.message };

/** A plain object (not null, not an array): what JSON makes of `{…}`. */
export const isRecord = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

export const string = shape<string>((value) => fits(typeof value === 'string', 'a string'));
export const nonEmptyString = shape<string>((value) =>
  fits(typeof value === 'string' && value !== '', 'a non-empty string'),
);
export const boolean = shape<boolean>((value) => fits(typeof value === 'boolean', 'a boolean'));
export const number = shape<number>((value) =>
  fits(typeof value === 'number' && Number.isFinite(value), 'a finite number'),
);
export const integer = shape<number>((value) => fits(Number.isSafeInteger(value), 'an integer'));
export const count = shape<number>((value) =>
  fits(Number.isSafeInteger(value) && (value as number) >= 0, 'a count (an integer ≥ 0)'),
);

/** One of the given strings. */
export const oneOf = <const Values extends readonly string[]>(...values: Values): Shape<Values[number]> =>
  shape((value) => fits(values.includes(value as string), values.map((each) => JSON.stringify(each)).join(' or ')));

/** Exactly `expected`. */
export const literal = <const T extends string | number | boolean>(expected: T): Shape<T> =>
  shape((value) => fits(value === expected, JSON.stringify(expected)));

/** A value the receiver checks itself (the runtime, with its own messages): typed here, passed as is. */
export const unchecked = <T>(): Shape<T> => shape(() => undefined);

/** Nothing may be given; `message` says why. */
export const absent = (message: string): Shape<undefined> =>
  shape((value) => (value === undefined ? undefined : { path: [], message }));

export const optional = <T>(inner: Shape<T>): Shape<T | undefined> =>
  shape((value) => (value === undefined ? undefined : inner(value)));

export const nullable = <T>(inner: Shape<T>): Shape<T | null> =>
  shape((value) => (value === null ? undefined : inner(value)));

type Fields = Record<string, Shape<unknown>>;
type OptionalKeys<F extends Fields> = { [K in keyof F]: undefined extends Infer<F[K]> ? K : never }[keyof F];
type ObjectOf<F extends Fields> = { [K in Exclude<keyof F, OptionalKeys<F>>]: Infer<F[K]> } & {
  [K in OptionalKeys<F>]?: Infer<F[K]>;
};

/**
 * An object whose listed fields each fit (other fields are not checked, nor removed). The value's
 * own keys are walked, not the listed ones: reading a field by a key that varies is a megamorphic
 * lookup, a missing one the slowest (~1.7 k instructions a tool call, issue 66), where a for-in
 * loop reads the value's own fields by its enum cache. A required field (one whose shape refuses
 * undefined) that is not there is then found by count.
 */
export function object<F extends Fields>(fields: F): Shape<ObjectOf<F>> {
  const byKey = new Map(
    Object.entries(fields).map(([key, field]) => [key, { field, required: field(undefined) !== undefined }]),
  );
  const required = [...byKey].filter(([, each]) => each.required).map(([key]) => key);
  return shape((value) => {
    if (!isRecord(value)) return fits(false, 'an object');
    let requiredHere = 0;
    for (const key in value) {
      const listed = byKey.get(key);
      if (listed === undefined || !Object.hasOwn(value, key)) continue;
      const misfit = listed.field(value[key]);
      if (misfit !== undefined) return inside(key, misfit);
      if (listed.required) requiredHere++;
    }
    if (requiredHere === required.length) return undefined;
    const missing = required.find((key) => !Object.hasOwn(value, key)) as string;
    return inside(missing, byKey.get(missing)?.field(undefined));
  });
}

export const array = <T>(each: Shape<T>): Shape<T[]> =>
  shape((value) => {
    if (!Array.isArray(value)) return fits(false, 'an array');
    for (let index = 0; index < value.length; index++) {
      const misfit = each(value[index]);
      if (misfit !== undefined) return inside(index, misfit);
    }
    return undefined;
  });

/** An object whose every own field fits `each`. */
export const recordOf = <T>(each: Shape<T>): Shape<Record<string, T>> =>
  shape((value) => {
    if (!isRecord(value)) return fits(false, 'an object');
    for (const key in value) {
      if (!Object.hasOwn(value, key)) continue;
      const misfit = each(value[key]);
      if (misfit !== undefined) return inside(key, misfit);
    }
    return undefined;
  });

/** One of several shapes, told apart by the string field `key` (`{ kind: 'a' } | { kind: 'b' }`). */
export const taggedBy = <Tags extends Record<string, Shape<unknown>>>(
  key: string,
  tags: Tags,
): Shape<Infer<Tags[keyof Tags]>> =>
  shape((value) => {
    if (!isRecord(value)) return fits(false, 'an object');
    const tag = value[key];
    const chosen = typeof tag === 'string' && Object.hasOwn(tags, tag) ? tags[tag] : undefined;
    if (chosen === undefined)
      return inside(
        key,
        fits(
          false,
          Object.keys(tags)
            .map((each) => JSON.stringify(each))
            .join(' or '),
        ),
      );
    return chosen(value);
  });

/** A misfit as a sentence: `<what> of another shape at <path>: expected …`. */
export function describeMisfit(what: string, misfit: Misfit): string {
  const where = misfit.path.length === 0 ? '' : ` at ${misfit.path.join('.')}`;
  return `${what} of another shape${where}: ${misfit.message}`;
}
