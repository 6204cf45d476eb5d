/**
 * A parsed JSON body or document as the tests read it: any shape, read field by field and checked by
 * expect(). The one place the tests take untyped data, named so that no other `any` is needed.
 */
// biome-ignore lint/suspicious/noExplicitAny: a JSON body is read field by field and each field checked by expect()
export type Json = any;
