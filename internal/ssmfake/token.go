package ssmfake

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
)

// A NextToken is base64url (unpadded) of
//
//	version(1) flags(1) start(8) seq(8) mac(16) sessionId(...)
//
// where start and sessionId are the sort key of the last candidate the
// previous page examined (flags&tokenFromStart: none yet), seq makes every
// issued token distinct, and mac is an HMAC-SHA256, under a secret of the
// Server, of the request shape (State and filters) and the rest of the token.
// A token is therefore valid only on the server that issued it and only for
// the same State and filters; MaxResults may change between pages.
const (
	tokenVersion   = 1
	tokenFromStart = 1
	tokenHeader    = 1 + 1 + 8 + 8
	tokenMAC       = 16
)

// cursor is a position in a sorted session list: just after the session
// with key (start, id), or before the first session when fromStart.
type cursor struct {
	fromStart bool
	start     int64
	id        string
}

func tokenMACOf(secret []byte, shape, header []byte, id string) []byte {
	m := hmac.New(sha256.New, secret)
	var n [binary.MaxVarintLen64]byte
	m.Write(n[:binary.PutUvarint(n[:], uint64(len(shape)))])
	m.Write(shape)
	m.Write(header)
	m.Write([]byte(id))
	return m.Sum(nil)[:tokenMAC]
}

func encodeToken(secret, shape []byte, c cursor, seq uint64) string {
	b := make([]byte, tokenHeader, tokenHeader+tokenMAC+len(c.id))
	b[0] = tokenVersion
	if c.fromStart {
		b[1] = tokenFromStart
	}
	binary.BigEndian.PutUint64(b[2:], uint64(c.start))
	binary.BigEndian.PutUint64(b[10:], seq)
	b = append(b, tokenMACOf(secret, shape, b[:tokenHeader], c.id)...)
	b = append(b, c.id...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeToken returns the cursor of a token issued for shape, or false.
func decodeToken(secret, shape []byte, tok string) (cursor, bool) {
	if len(tok) > maxTokenLen {
		return cursor{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) < tokenHeader+tokenMAC || b[0] != tokenVersion || b[1]&^tokenFromStart != 0 {
		return cursor{}, false
	}
	id := string(b[tokenHeader+tokenMAC:])
	if !hmac.Equal(b[tokenHeader:tokenHeader+tokenMAC], tokenMACOf(secret, shape, b[:tokenHeader], id)) {
		return cursor{}, false
	}
	return cursor{
		fromStart: b[1]&tokenFromStart != 0,
		start:     int64(binary.BigEndian.Uint64(b[2:])),
		id:        id,
	}, true
}
