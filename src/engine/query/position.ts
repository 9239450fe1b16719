/** Where a query node came from, for errors that point at it. */

/** A place in SQL text. `offset` counts code points from 0; line and column start at 1. */
export interface TextPos {
  readonly offset: number
  readonly line: number
  readonly column: number
}

/** A place in the JSON form: a JSON pointer such as `/query/select/1`. */
export interface JsonPos {
  readonly path: string
}

export type SourcePos = TextPos | JsonPos
