package efivars

import (
	"encoding/binary"
	"fmt"
	"time"
)

// Time is an EFI_TIME, as stored in an authenticated variable header. The
// zero value is the all-zero EFI_TIME edk2 writes for variables without
// time-based authentication.
type Time struct {
	Year       uint16
	Month      uint8
	Day        uint8
	Hour       uint8
	Minute     uint8
	Second     uint8
	Pad1       uint8
	Nanosecond uint32
	TimeZone   int16
	Daylight   uint8
	Pad2       uint8
}

// TimeOf converts t to an EFI_TIME in UTC with TimeZone 0, the form
// authenticated variable writers use (UEFI requires Pad1, Nanosecond,
// TimeZone, Daylight and Pad2 to be zero in EFI_VARIABLE_AUTHENTICATION_2).
func TimeOf(t time.Time) (Time, error) {
	t = t.UTC()
	if t.Year() < 1900 || t.Year() > 9999 {
		return Time{}, fmt.Errorf("time %s is outside EFI_TIME's years 1900-9999", t.Format(time.RFC3339))
	}
	return Time{Year: uint16(t.Year()), Month: uint8(t.Month()), Day: uint8(t.Day()),
		Hour: uint8(t.Hour()), Minute: uint8(t.Minute()), Second: uint8(t.Second())}, nil
}

// IsZero reports whether every field is zero.
func (t Time) IsZero() bool { return t == Time{} }

// String formats the time as RFC 3339 (UTC), or "-" when zero.
func (t Time) String() string {
	if t.IsZero() {
		return "-"
	}
	s := fmt.Sprintf("%04d-%02d-%02dT%02d:%02d:%02d", t.Year, t.Month, t.Day, t.Hour, t.Minute, t.Second)
	if t.Nanosecond != 0 {
		s += fmt.Sprintf(".%09d", t.Nanosecond)
	}
	return s + "Z"
}

const timeSize = 16

func (t Time) append(b []byte) []byte {
	b = binary.LittleEndian.AppendUint16(b, t.Year)
	b = append(b, t.Month, t.Day, t.Hour, t.Minute, t.Second, t.Pad1)
	b = binary.LittleEndian.AppendUint32(b, t.Nanosecond)
	b = binary.LittleEndian.AppendUint16(b, uint16(t.TimeZone))
	return append(b, t.Daylight, t.Pad2)
}

func parseTime(b []byte) Time {
	return Time{
		Year: binary.LittleEndian.Uint16(b), Month: b[2], Day: b[3], Hour: b[4], Minute: b[5], Second: b[6], Pad1: b[7],
		Nanosecond: binary.LittleEndian.Uint32(b[8:]), TimeZone: int16(binary.LittleEndian.Uint16(b[12:])),
		Daylight: b[14], Pad2: b[15],
	}
}
