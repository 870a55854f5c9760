// connect-es declarations name the DOM type `HeadersInit`, which @types/node does not declare globally
// (it declares `Headers` only). Packages that use connect include this file instead of pulling in lib "dom",
// which would let browser globals into Node code. Compile-time only; never shipped.
type HeadersInit = NonNullable<ConstructorParameters<typeof Headers>[0]>;
