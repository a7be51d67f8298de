package hooks

import (
	"strings"

	"github.com/wgu-project/wgu/tunnel/config"
)

// A small reading of sh syntax, enough to tell which commands a hook line
// runs (HostNetworkOnly). It never executes or expands anything: a word
// holding an expansion is marked dynamic, and constructs it does not follow
// (subshells, here-documents, unbalanced quotes) make it give up.

// shellWord is one word of a simple command, with quotes removed.
type shellWord struct {
	text    string
	dynamic bool // contains $..., $(...), ${...} or `...`: its value is not known
}

// shellRedirect is one redirection: op is "<", ">", ">>", ">|", "<>",
// ">&", "<&", "&>" or "&>>"; target is the word after it.
type shellRedirect struct {
	op     string
	target shellWord
}

// shellCommand is one simple command: its words and redirections.
type shellCommand struct {
	words     []shellWord
	redirects []shellRedirect
}

// outputTargets lists the files the command's output is redirected to
// (duplicating a descriptor, as in 2>&1, is not a file); ok is false if a
// target is not known before running.
func (c shellCommand) outputTargets() (targets []string, ok bool) {
	for _, r := range c.redirects {
		switch r.op {
		case "<", "<&":
			continue
		}
		if r.target.dynamic {
			return nil, false
		}
		if (r.op == ">&" || r.op == "<&") && (config.IsDigits(r.target.text) || r.target.text == "-") {
			continue
		}
		targets = append(targets, r.target.text)
	}
	return targets, true
}

// splitShellCommands splits s into its simple commands, at unquoted ;, &,
// |, &&, || and newlines, dropping comments. ok is false when s holds
// something this reading does not follow.
func splitShellCommands(s string) (cmds []shellCommand, ok bool) {
	var (
		cur      shellCommand
		word     strings.Builder
		inWord   bool
		dynamic  bool
		redirect string // an operator waiting for its target word
	)
	endWord := func() {
		if !inWord {
			return
		}
		w := shellWord{text: word.String(), dynamic: dynamic}
		if redirect != "" {
			cur.redirects = append(cur.redirects, shellRedirect{op: redirect, target: w})
			redirect = ""
		} else {
			cur.words = append(cur.words, w)
		}
		word.Reset()
		inWord, dynamic = false, false
	}
	endCommand := func() bool {
		endWord()
		if redirect != "" {
			return false
		}
		if len(cur.words) > 0 || len(cur.redirects) > 0 {
			cmds = append(cmds, cur)
		}
		cur = shellCommand{}
		return true
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			endWord()
		case c == '#' && !inWord:
			end := strings.IndexByte(s[i:], '\n')
			if end < 0 {
				i = len(s)
			} else {
				i += end - 1
			}
		case c == '&' && i+1 < len(s) && s[i+1] == '>':
			endWord()
			if redirect != "" {
				return nil, false
			}
			redirect, i = "&>", i+1
			if i+1 < len(s) && s[i+1] == '>' {
				redirect, i = "&>>", i+1
			}
		case c == '\n' || c == ';' || c == '&' || c == '|':
			if !endCommand() {
				return nil, false
			}
			if i+1 < len(s) && (s[i+1] == c && c != '\n' || c == '|' && s[i+1] == '&') {
				i++
			}
		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, false
			}
			word.WriteString(s[i+1 : i+1+end])
			inWord, i = true, i+1+end
		case c == '"':
			j := i + 1
			for ; j < len(s) && s[j] != '"'; j++ {
				switch s[j] {
				case '\\':
					if j+1 < len(s) && strings.IndexByte("$`\"\\\n", s[j+1]) >= 0 {
						if s[j+1] != '\n' {
							word.WriteByte(s[j+1])
						}
						j++
						continue
					}
				case '$', '`':
					dynamic = true
				}
				word.WriteByte(s[j])
			}
			if j >= len(s) {
				return nil, false
			}
			inWord, i = true, j
		case c == '\\':
			if i+1 < len(s) {
				if s[i+1] != '\n' {
					word.WriteByte(s[i+1])
					inWord = true
				}
				i++
			}
		case c == '$':
			end := expansionEnd(s, i)
			if end < 0 {
				return nil, false
			}
			word.WriteString(s[i : end+1])
			inWord, dynamic, i = true, true, end
		case c == '`':
			end := strings.IndexByte(s[i+1:], '`')
			if end < 0 {
				return nil, false
			}
			word.WriteString(s[i : i+2+end])
			inWord, dynamic, i = true, true, i+1+end
		case c == '(' || c == ')':
			return nil, false // subshells, function definitions
		case c == '<' || c == '>':
			if inWord && !dynamic && config.IsDigits(word.String()) {
				word.Reset() // the descriptor number, as in 2>
				inWord = false
			}
			endWord()
			if redirect != "" {
				return nil, false
			}
			op := string(c)
			if i+1 < len(s) {
				next := s[i+1]
				switch {
				case c == '<' && next == '<':
					return nil, false // here-documents
				case c == '>' && (next == '>' || next == '&' || next == '|'),
					c == '<' && (next == '&' || next == '>'):
					op += string(next)
					i++
				}
			}
			redirect = op
		default:
			word.WriteByte(c)
			inWord = true
		}
	}
	if !endCommand() {
		return nil, false
	}
	return cmds, true
}

// expansionEnd returns the index of the last byte of the expansion that
// starts with the '$' at s[i] ($NAME, ${...}, $(...), $((...))), or -1 if
// it is not closed.
func expansionEnd(s string, i int) int {
	if i+1 >= len(s) {
		return i
	}
	switch s[i+1] {
	case '{':
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			return -1
		}
		return i + 2 + end
	case '(':
		depth := 0
		for j := i + 1; j < len(s); j++ {
			switch s[j] {
			case '(':
				depth++
			case ')':
				depth--
				if depth == 0 {
					return j
				}
			case '\'', '"':
				end := strings.IndexByte(s[j+1:], s[j])
				if end < 0 {
					return -1
				}
				j += 1 + end
			}
		}
		return -1
	}
	j := i + 1
	for j < len(s) && (s[j] == '_' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= '0' && s[j] <= '9') {
		j++
	}
	if j == i+1 && strings.IndexByte("?$!#*@-0123456789", s[j]) >= 0 {
		j++
	}
	return j - 1
}
