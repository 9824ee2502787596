// The rule language for highlighting: a stream parser (the server's check gives the
// diagnostics; this only colours words). Keywords as the grammar has them.
import { StreamLanguage } from "@codemirror/language";

const KEYWORDS = new Set([
  "ruleset", "version", "title", "policy", "first", "unique", "input", "level", "from",
  "tier", "when", "otherwise", "label", "example", "given", "expect", "labels", "let",
  "optional", "default", "band", "of",
]);
const OPERATORS = new Set([
  "and", "or", "not", "is", "in", "has", "any", "all", "at", "least", "most", "above",
  "below", "between", "none", "true", "false",
]);
const TYPES = new Set(["count", "number", "percent", "text", "flag", "set"]);

export const tierline = StreamLanguage.define({
  name: "tierline",
  startState: () => ({ after: "" }),
  token(stream, state) {
    if (stream.eatSpace()) return null;
    if (stream.match("#")) { stream.skipToEnd(); return "comment"; }
    if (stream.match(/^"(?:[^"\\]|\\.)*"?/)) return "string";
    if (stream.match(/^-?\d[\d_]*(?:\.\d+)?(?:%|k|K|M|m|b|B)?/)) return "number";
    if (stream.match(/^[A-Za-z_][A-Za-z0-9_]*/)) {
      const word = stream.current();
      const before = state.after;
      state.after = word;
      if (KEYWORDS.has(word)) return "keyword";
      if (OPERATORS.has(word)) return "operatorKeyword";
      if (TYPES.has(word) && before !== "tier" && before !== "label") return "typeName";
      if (before === "tier" || before === "label" || before === "level" || before === "expect")
        return "variableName.definition";
      return "variableName";
    }
    if (stream.match(/^(>=|<=|==|!=|[<>=(){},:\/*+-])/)) return "operator";
    stream.next();
    return null;
  },
  languageData: { commentTokens: { line: "#" } },
});
