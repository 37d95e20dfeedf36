package ssmfake

import (
	"cmp"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// Indexes of the two session lists, one per DescribeSessions State.
const (
	stateActive  = 0
	stateHistory = 1
)

// noStart is the sort key of a session without StartDate: it sorts after
// every dated session and no time filter selects it.
const noStart = math.MinInt64

// Presence bits of the optional members of a stored session.
const (
	hasTarget uint16 = 1 << iota
	hasDocument
	hasOwner
	hasReason
	hasDetails
	hasOutputURL
	hasS3
	hasCW
	hasMaxDuration
	hasEnd
)

// record is the stored, immutable form of one session. Strings are
// immutable, so a record shares nothing mutable with the caller of Put;
// times are Unix milliseconds, the precision of the service.
type record struct {
	id, target, document, owner, reason, details string
	s3, cw, maxDuration                          string
	status, access                               string
	start, end                                   int64 // Unix ms; start is noStart when absent
	has                                          uint16
	gen                                          uint64 // the put call that stored it
	state                                        uint8
	dead                                         bool // replaced or deleted; set under the write lock
}

// before reports whether a is served before b: newest StartDate first,
// ties by ascending SessionId.
func before(a, b *record) bool {
	if a.start != b.start {
		return a.start > b.start
	}
	return a.id < b.id
}

// sortRecords sorts rs in serving order. It sorts compact keys rather
// than the records, which keeps a sort of a million sessions in cache.
func sortRecords(rs []*record) {
	type key struct {
		start int64
		r     *record
	}
	keys := make([]key, len(rs))
	for i, r := range rs {
		keys[i] = key{r.start, r}
	}
	slices.SortFunc(keys, func(a, b key) int {
		if a.start != b.start {
			return cmp.Compare(b.start, a.start)
		}
		return strings.Compare(a.r.id, b.r.id)
	})
	for i := range keys {
		rs[i] = keys[i].r
	}
}

// stateOf maps a session status to the DescribeSessions State that lists
// it. An unknown or empty status is History when the session has ended,
// else Active.
func stateOf(status types.SessionStatus, ended bool) uint8 {
	switch status {
	case types.SessionStatusConnected, types.SessionStatusConnecting,
		types.SessionStatusDisconnected, types.SessionStatusTerminating:
		return stateActive
	case types.SessionStatusTerminated, types.SessionStatusFailed:
		return stateHistory
	}
	if ended {
		return stateHistory
	}
	return stateActive
}

// fill sets r from s. It reports false for a session without SessionId,
// which cannot be stored.
func (r *record) fill(s *types.Session) bool {
	if s.SessionId == nil || *s.SessionId == "" {
		return false
	}
	*r = record{id: *s.SessionId, status: string(s.Status), access: string(s.AccessType), start: noStart}
	set := func(bit uint16, dst *string, src *string) {
		if src != nil {
			r.has |= bit
			*dst = *src
		}
	}
	set(hasTarget, &r.target, s.Target)
	set(hasDocument, &r.document, s.DocumentName)
	set(hasOwner, &r.owner, s.Owner)
	set(hasReason, &r.reason, s.Reason)
	set(hasDetails, &r.details, s.Details)
	set(hasMaxDuration, &r.maxDuration, s.MaxSessionDuration)
	if s.OutputUrl != nil {
		r.has |= hasOutputURL
		set(hasS3, &r.s3, s.OutputUrl.S3OutputUrl)
		set(hasCW, &r.cw, s.OutputUrl.CloudWatchOutputUrl)
	}
	if s.StartDate != nil {
		r.start = s.StartDate.UnixMilli()
		if r.start == noStart {
			r.start++
		}
	}
	if s.EndDate != nil {
		r.has |= hasEnd
		r.end = s.EndDate.UnixMilli()
	}
	r.state = stateOf(s.Status, s.EndDate != nil)
	return true
}

// session returns r as a types.Session whose pointers are all fresh, so
// the caller may modify it.
func (r *record) session() types.Session {
	// One allocation holds every value the session points to.
	b := &struct {
		id, target, document, owner, reason, details string
		s3, cw, maxDuration                          string
		start, end                                   time.Time
		out                                          types.SessionManagerOutputUrl
	}{
		id: r.id, target: r.target, document: r.document, owner: r.owner,
		reason: r.reason, details: r.details, s3: r.s3, cw: r.cw, maxDuration: r.maxDuration,
	}
	s := types.Session{
		SessionId:  &b.id,
		Status:     types.SessionStatus(r.status),
		AccessType: types.AccessType(r.access),
	}
	opt := func(bit uint16, v *string) *string {
		if r.has&bit != 0 {
			return v
		}
		return nil
	}
	s.Target = opt(hasTarget, &b.target)
	s.DocumentName = opt(hasDocument, &b.document)
	s.Owner = opt(hasOwner, &b.owner)
	s.Reason = opt(hasReason, &b.reason)
	s.Details = opt(hasDetails, &b.details)
	s.MaxSessionDuration = opt(hasMaxDuration, &b.maxDuration)
	if r.has&hasOutputURL != 0 {
		b.out.S3OutputUrl = opt(hasS3, &b.s3)
		b.out.CloudWatchOutputUrl = opt(hasCW, &b.cw)
		s.OutputUrl = &b.out
	}
	if r.start != noStart {
		b.start = time.UnixMilli(r.start).UTC()
		s.StartDate = &b.start
	}
	if r.has&hasEnd != 0 {
		b.end = time.UnixMilli(r.end).UTC()
		s.EndDate = &b.end
	}
	return s
}

// store holds the sessions of both states, each list sorted in serving
// order. It is not safe for concurrent use; Server guards it.
type store struct {
	byID  map[string]*record
	lists [2][]*record
	gen   uint64
}

// smallBatch is the size up to which put and remove edit the sorted lists
// in place rather than rebuilding them.
const smallBatch = 16

// put upserts sessions by SessionId; sessions without one are ignored.
func (st *store) put(sessions []types.Session) {
	if st.byID == nil {
		st.byID = make(map[string]*record, len(sessions))
	}
	st.gen++
	slab := make([]record, len(sessions))
	var added [2][]*record
	var replaced []*record
	dup := false
	n := 0
	for i := range sessions {
		r := &slab[n]
		if !r.fill(&sessions[i]) {
			continue
		}
		n++
		r.gen = st.gen
		if old, ok := st.byID[r.id]; ok {
			if old.gen == st.gen {
				dup = true // the same id twice in one batch: the last one wins
			} else {
				replaced = append(replaced, old)
			}
			old.dead = true
		}
		st.byID[r.id] = r
		added[r.state] = append(added[r.state], r)
	}
	if dup {
		for state := range added {
			added[state] = slices.DeleteFunc(added[state], func(r *record) bool { return r.dead })
		}
	}
	st.remove(replaced)
	for state := range added {
		st.insert(state, added[state])
	}
}

// delete removes the sessions with the given ids; unknown ids are ignored.
func (st *store) delete(ids []string) {
	var gone []*record
	for _, id := range ids {
		if r, ok := st.byID[id]; ok {
			delete(st.byID, id)
			r.dead = true
			gone = append(gone, r)
		}
	}
	st.remove(gone)
}

// remove takes the given records, already marked dead, out of their lists.
func (st *store) remove(rs []*record) {
	if len(rs) == 0 {
		return
	}
	if len(rs) <= smallBatch {
		for _, r := range rs {
			l := st.lists[r.state]
			i := sort.Search(len(l), func(i int) bool { return !before(l[i], r) })
			for ; i < len(l) && l[i] != r; i++ {
			}
			if i < len(l) {
				st.lists[r.state] = slices.Delete(l, i, i+1)
			}
		}
		return
	}
	for state := range st.lists {
		l := st.lists[state]
		st.lists[state] = slices.DeleteFunc(l, func(r *record) bool { return r.dead })
	}
}

// insert adds the records to the sorted list of state.
func (st *store) insert(state int, rs []*record) {
	if len(rs) == 0 {
		return
	}
	l := st.lists[state]
	if len(rs) <= smallBatch {
		for _, r := range rs {
			i := sort.Search(len(l), func(i int) bool { return before(r, l[i]) })
			l = slices.Insert(l, i, r)
		}
		st.lists[state] = l
		return
	}
	sortRecords(rs)
	if len(l) == 0 {
		st.lists[state] = slices.Clip(rs)
		return
	}
	merged := make([]*record, 0, len(l)+len(rs))
	i, j := 0, 0
	for i < len(l) && j < len(rs) {
		if before(rs[j], l[i]) {
			merged = append(merged, rs[j])
			j++
		} else {
			merged = append(merged, l[i])
			i++
		}
	}
	merged = append(merged, l[i:]...)
	merged = append(merged, rs[j:]...)
	st.lists[state] = merged
}
