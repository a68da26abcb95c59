package nodeset

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// The cases marked "cs" are ClusterShell's own expectations
// (tests/NodeSetTest.py, tests/RangeSetTest.py): the folded string is what
// str(NodeSet(in)) gives there.
func TestExpandFold(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in    string
		fold  string // Fold(Expand(in))
		count int    // 0: not checked
		names string // space-separated, "" when not checked
	}{
		// cs: single names
		{in: "cws-machin", fold: "cws-machin", names: "cws-machin"},
		{in: "supercluster0", fold: "supercluster0"},
		{in: "0cluster", fold: "0cluster"},
		{in: "[0]cluster", fold: "0cluster"},
		{in: "cluster008", fold: "cluster008"},
		{in: "cluster[115]", fold: "cluster115"},
		{in: "clu-0-3", fold: "clu-0-3"},
		{in: "clu-0-[3-23]", fold: "clu-0-[3-23]"},
		{in: "", fold: "", count: 0, names: ""},
		{in: " \t\n ", fold: ""},
		// cs: whitespace
		{in: " tigrou2 , tigrou7 , tigrou[5,9-11] ", fold: "tigrou[2,5,7,9-11]"},
		{in: "   tigrou2 ,    tigrou5,tigrou7 , tigrou[ 9   - 11 ]    ", fold: "tigrou[2,5,7,9-11]"},
		{in: "tigrou 0, tigrou [1],tigrou [2-3]", fold: "tigrou [0-3]"},
		{in: "tigrou  1,tigrou 0 1 2 abc,tigrou [2-3] ourgit", fold: "tigrou  1,tigrou 0 1 2 abc,tigrou [2-3] ourgit"},
		{in: "n[ 1 , 5 , 39-42 , 100 ]", fold: "n[1,5,39-42,100]"},
		// cs: operators, read from left to right
		{in: " tigrou [1-5] & tigrou [0,2,4] ! tigrou [2-3] ^ tigrou [3-5], tigrou 1 ", fold: "tigrou [1,3,5]"},
		{in: "cluster[115-117,130,166-170]&cluster[115-167]", fold: "cluster[115-117,130,166-167]"},
		{in: "cluster[115-117,130,166-170]!cluster[115,130]", fold: "cluster[116-117,166-170]"},
		{in: "cluster[115-117,130,166-170]^cluster[115-167]", fold: "cluster[118-129,131-165,168-170]"},
		{in: "red[34-55,76-249,300-403],blue,green!red[32-57,72-249,300-341]!blue!yellow", fold: "green,red[342-403]", count: 63},
		{in: "red[34-55,76-249,300-403],blue,green&red[32-57,72-249,300-341],blue", fold: "blue,red[34-55,76-249,300-341]", count: 239},
		{in: "artcore[3-999],lounge^artcore[1-2000]", fold: "artcore[1-2,1000-2000],lounge", count: 1004},
		{in: "lounge[3-999]^lounge[3-999]", fold: "", count: 0},
		{in: "yellow[120-160]!red[35-49]", fold: "yellow[120-160]"},
		// cs: fromlist-style folding
		{in: "cluster0,cluster1,cluster2,cluster5,cluster8,cluster4,cluster3", fold: "cluster[0-5,8]", count: 7},
		{in: "cluster0,cluster1,cluster,wool,cluster3", fold: "cluster,cluster[0-1,3],wool"},
		{in: "cluster115,cluster116,cluster117,cluster130,cluster[166-169],cluster170", fold: "cluster[115-117,130,166-170]"},
		{in: "ccluster12,acluster4,bcluster25,acluster39,acluster41", fold: "acluster[4,39,41],bcluster25,ccluster12",
			names: "acluster4 acluster39 acluster41 bcluster25 ccluster12"},
		{in: "roma[50-99]-ipmi,cors[113,115-117,130,166-172],cws-tigrou,tigrou3,tigrou3,cors116", count: 64,
			fold: "cors[113,115-117,130,166-172],cws-tigrou,roma[50-99]-ipmi,tigrou3"},
		// cs: percent signs are plain characters
		{in: "cluster%s", fold: "cluster%s"},
		{in: "cluster%s3", fold: "cluster%s3"},
		{in: "myclu%ster,clust%ser[3-30]", fold: "clust%ser[3-30],myclu%ster"},
		{in: "cluster%eth0,cluster%eth1", fold: "cluster%eth[0-1]"},
		{in: "super%cluster,hyper%cluster", fold: "hyper%cluster,super%cluster"},
		{in: "fe80::5054:ff:feff:6944%eth0 ", fold: "fe80::5054:ff:feff:6944%eth0"},
		{in: "\u0ad0[000-042]", fold: "\u0ad0[000-042]", count: 43},
		// cs: ranges and padding
		{in: "cluster[0-10]", fold: "cluster[0-10]",
			names: "cluster0 cluster1 cluster2 cluster3 cluster4 cluster5 cluster6 cluster7 cluster8 cluster9 cluster10"},
		{in: "cluster[1-100]", fold: "cluster[1-100]", count: 100},
		{in: "cluster[0001-0100]", fold: "cluster[0001-0100]", count: 100},
		{in: "cluster[0034-8127]", fold: "cluster[0034-8127]", count: 8094},
		{in: "cluster[50-99]-ipmi", fold: "cluster[50-99]-ipmi", count: 50},
		{in: "cluster[0001,0002,1555-1559]-ipmi", fold: "cluster[0001-0002,1555-1559]-ipmi",
			names: "cluster0001-ipmi cluster0002-ipmi cluster1555-ipmi cluster1556-ipmi cluster1557-ipmi cluster1558-ipmi cluster1559-ipmi"},
		{in: "n[00-10]", fold: "n[00-10]", count: 11},
		{in: "n[0-00]", fold: "n0"},
		{in: "n[1-17/02]", fold: "n[1,3,5,7,9,11,13,15,17]"},
		{in: "n[1-4/4,2-6/2]", fold: "n[1-2,4,6]"},
		{in: "n[3/1]", fold: "n3"},
		{in: "n[030-032,033-100/3,99-105/3,0001]", names: "n99 n030 n031 n032 n033 n036 n039 n042 n045 n048 n051 n054 n057 n060 n063 n066 n069 n072 n075 n078 n081 n084 n087 n090 n093 n096 n099 n102 n105 n0001",
			fold: "n[99,030-033,036,039,042,045,048,051,054,057,060,063,066,069,072,075,078,081,084,087,090,093,096,099,102,105,0001]"},
		{in: "n1,n2,n10,n01", fold: "n[1-2,01,10]", names: "n1 n2 n01 n10"},
		{in: "n[8-9],n[00-01],n10", fold: "n[8-9,00-01,10]"},
		{in: "n[09-11]", fold: "n[09-11]", names: "n09 n10 n11"},
		// found by comparing with ClusterShell: a run that follows a padded
		// index keeps its padding state, so 100 does not join 10-99
		{in: "[0-100,02]", fold: "[0-9,02,10-99,100]", count: 102},
		{in: "n02,n10,n11,n100", fold: "n[02,10-11,100]"},
		{in: "a1[0-660,01]n0b-", fold: "a[10-19,101,110-199,1100-1660]n0b-", count: 662},
		{in: "an0[2-660,02]a1", fold: "an[02-09,002,010-099,0100-0660]a1", count: 660},
		// cs: digits next to a bracket join its numbers
		{in: "node0[0]", fold: "node00"},
		{in: "node01[0-1]", fold: "node[010-011]"},
		{in: "prod-02[10-20]", fold: "prod-[0210-0220]"},
		{in: "prod-2[10-320]", fold: "prod-[210-2320]", count: 2111},
		{in: "prod-02[010-320]", fold: "prod-[02010-02320]"},
		{in: "prod-000[1-9]", fold: "prod-[0001-0009]"},
		{in: "prod-100[040-042]", fold: "prod-[100040-100042]", count: 3},
		{in: "prod-10[01,05,09-15,40-50,52]", fold: "prod-[1001,1005,1009-1015,1040-1050,1052]"},
		{in: "prod-0[040-042],sysgrp-00[01-02]", fold: "prod-[0040-0042],sysgrp-[0001-0002]"},
		{in: "prod-000[0-8/2],prod-000[1-9/2]", fold: "prod-[0000-0009]", count: 10},
		{in: "n1[01-40/4]", fold: "n[101,105,109,113,117,121,125,129,133,137]"},
		{in: "node-1[0-48/16]", fold: "node-[10,116,132,148]", count: 4},
		{in: "node-1[00-48/16]", fold: "node-[100,116,132,148]"},
		{in: "prod-1[10-345]", fold: "prod-[110-1345]"},
		{in: "prod-02[10-34,069-099]", fold: "prod-[0210-0234,02069-02099]"},
		{in: "x01[0-1]y01[0-1]z01[0-1]", fold: "x[010-011]y[010-011]z[010-011]", count: 8},
		{in: "x22[0-1]y00[0-1]z03[0-1]", fold: "x[220-221]y[000-001]z[030-031]"},
		{in: "x22[0-1]y000z03[0-1]", fold: "x[220-221]y000z[030-031]", count: 4},
		{in: "x22[0-1]0y03[0-1]0", fold: "x[2200,2210]y[0300,0310]", count: 4},
		{in: "x22[0-1]0y03[0-1]0-ipmi", fold: "x[2200,2210]y[0300,0310]-ipmi"},
		{in: "node[0]1", fold: "node01"},
		{in: "node[1]0", fold: "node10"},
		{in: "n[1-9,15,59,10-50,142]0", fold: "n[10,20,30,40,50,60,70,80,90,100,110,120,130,140,150,160,170,180,190,200,210,220,230,240,250,260,270,280,290,300,310,320,330,340,350,360,370,380,390,400,410,420,430,440,450,460,470,480,490,500,590,1420]"},
		{in: "nova[1-4]56", fold: "nova[156,256,356,456]"},
		{in: "nova16[1-4]56c", fold: "nova[16156,16256,16356,16456]c"},
		{in: "prod-[01-34]0", fold: "prod-[010,020,030,040,050,060,070,080,090,100,110,120,130,140,150,160,170,180,190,200,210,220,230,240,250,260,270,280,290,300,310,320,330,340]"},
		{in: "node123[1-2]", fold: "node[1231-1232]"},
		{in: "node01[0]10", fold: "node01010"},
		{in: "0[3-9/2]abc", fold: "[03,05,07,09]abc"},
		{in: "0[3-9]abc", fold: "[03-09]abc"},
		{in: "[3,5,7,9]0abc", fold: "[30,50,70,90]abc"},
		{in: "3abc16[1-4]56d", fold: "3abc[16156,16256,16356,16456]d"},
		{in: "0[3,6,9]1abc16[1-4]56d", fold: "[031,061,091]abc[16156,16256,16356,16456]d"},
		{in: "[09998-10001,100000-100002]L6", fold: "[09998-10001,100000-100002]L6"},
		{in: "0123[000-100]L6", fold: "[0123000-0123100]L6"},
		// cs: names that are only numbers
		{in: "3,5,[7-10,40]", fold: "[3,5,7-10,40]", count: 7},
		{in: "nova3,nova4,[5-8],nova6", fold: "[5-8],nova[3-4,6]", count: 7},
		{in: "[07-09,010]", fold: "[07-09,010]"},
		{in: "0[7-9,010]", fold: "[07-09,0010]"},
		{in: "0[07-09,10]", fold: "[007-010]"},
		{in: "0[07-09,010]", fold: "[007-009,0010]"},
		// cs: several numbers, folded on every axis
		{in: "da[30,34-51,59-60]p[1-2],da[70-77]p3", fold: "da[30,34-51,59-60]p[1-2],da[70-77]p3", count: 50},
		{in: "da[30,34-51,59-60]p[1-2],da[70-77]p2", fold: "da[30,34-51,59-60]p[1-2],da[70-77]p2"},
		{in: "da[1-10]c[1-2,8]p0", fold: "da[1-10]c[1-2,8]p0", count: 30},
		{in: "da[1-10]c3p0x3", fold: "da[1-10]c3p0x3", count: 10},
		{in: "[1-7,10]xpc[3,4]p40_3,9xpc[3,4]p40_3,8xpc[3,4]p[40]_[3]", fold: "[1-10]xpc[3-4]p40_3", count: 20},
		{in: "da[2-3]c[0-1]", fold: "da[2-3]c[0-1]", names: "da2c0 da2c1 da3c0 da3c1"},
		{in: "da3c1,da3c2", fold: "da3c[1-2]"},
		{in: "da[2-3]c1,da[2-3]c2", fold: "da[2-3]c[1-2]"},
		{in: "da[2-3]c[0-1],da[2-3]c[1-2]", fold: "da[2-3]c[0-2]", count: 6},
		{in: "da[1-1000]c[1-2]p[0-1]", fold: "da[1-1000]c[1-2]p[0-1]", count: 4000},
		{in: "tronic[0036-1630]c[3-4]", fold: "tronic[0036-1630]c[3-4]", count: 3190},
		{in: "da[2-3]c[1-2],da[3-4]c[3-4]", fold: "da3c[1-4],da2c[1-2],da4c[3-4]"},
		{in: "da[2-3]c[1-2],da[3-4]c[2-3]", fold: "da3c[1-3],da2c[1-2],da4c[2-3]"},
		{in: "da[2-3]c[1-2],da[3-4]c[1-2]", fold: "da[2-4]c[1-2]"},
		{in: "da[2-3]c[1-2]p3,da[3-4]c[1-3]p3", fold: "da[3-4]c[1-3]p3,da2c[1-2]p3"},
		{in: "da[2-3]c[1-2],da[2,5]c[2-3]", fold: "da2c[1-3],da3c[1-2],da5c[2-3]"},
		{in: "a[0-2]b[1-3]c[4],a[0-1]b[2-3]c[4-5]", fold: "a[0-1]b[1-2]c4,a[0-1]b3c[4-5],a2b[1-3]c4,a[0-1]b2c5", count: 13},
		{in: "a[0-2]b[1-3]c[4-6],a[0-1]b[2-3]c[4-5]", fold: "a[0-2]b[1-3]c[4-6]", count: 27},
		{in: "a[0-2]b[2-3]c[4-6],a[0-1]b[1-3]c[4-5]", fold: "a[0-2]b[2-3]c[4-6],a[0-1]b1c[4-5]", count: 22},
		{in: "a[0-2]b[2-3]c[4-6],a[0-1]b[1-3]c[4-5],a2b1c[4-6]", fold: "a[0-1]b[2-3]c[4-6],a2b[1-3]c[4-6],a[0-1]b1c[4-5]"},
		{in: "a[0-2]b[2-3]c[4-6],a[0-1]b[1-3]c[4-5],a2b1c[4-6],a1b1c6", fold: "a[1-2]b[1-3]c[4-6],a0b[2-3]c[4-6],a0b1c[4-5]"},
		{in: "a[0-2]b[2-3]c[4-6],a[0-1]b[1-3]c[4-5],a2b1c[4-6],a1b1c6,a0b1c6", fold: "a[0-2]b[1-3]c[4-6]"},
		{in: "n1c0[1-9],n2c0[1-9],n3c0[1-9],n4c0[1-7]", fold: "n[1-3]c[01-09],n4c[01-07]", count: 34},
		{in: "n1c0[1-9],n2c0[1-9],n3c0[1-9],n4c0[1-9]", fold: "n[1-4]c[01-09]", count: 36},
		{in: "r1n1,r1n2,r2n1", fold: "r1n[1-2],r2n1"},
		{in: "r1n5,r2n[1-3]", fold: "r2n[1-3],r1n5", names: "r2n1 r2n2 r2n3 r1n5"},
		{in: "deploy@web[1-2]:2222", fold: "deploy@web[1-2]:2222", names: "deploy@web1:2222 deploy@web2:2222"},
		{in: "10.0.[0-1].[1-2]", fold: "10.0.[0-1].[1-2]", names: "10.0.0.1 10.0.0.2 10.0.1.1 10.0.1.2"},
		// cs: negative numbers (ClusterShell 1.9.1); grifork orders and folds
		// the names they give as written names ("n-5" is n-%s).
		{in: "n[-5]", fold: "n-5"},
		{in: "n[-1-0]", fold: "n0,n-1", names: "n0 n-1"},
		{in: "n[-5-5]", count: 11, fold: "n[0-5],n-[1-5]"},
		{in: "n[1-5,-12,-5--1,-10--9]", count: 13, fold: "n[1-5],n-[1-5,9-10,12]"},
		{in: "n[-10--08]", fold: "n-[8-10]"},
		// the cases
		{in: "web[01-40,42]", fold: "web[01-40,42]", count: 41},
		{in: "web[1-2],db1", fold: "db1,web[1-2]", names: "db1 web1 web2"},
		{in: "db[7,1-2]", fold: "db[1-2,7]", names: "db1 db2 db7"},
		{in: "db[1,1]", fold: "db1"},
		{in: "r[1-2]n[01-02]", fold: "r[1-2]n[01-02]", names: "r1n01 r1n02 r2n01 r2n02"},
		{in: "web[1-100000]", count: Limit},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := Expand(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if tt.count != 0 && len(got) != tt.count {
				t.Errorf("%d names, want %d", len(got), tt.count)
			}
			if tt.names != "" {
				if want := strings.Fields(tt.names); !slices.Equal(got, want) {
					t.Errorf("names %q, want %q", got, want)
				}
			}
			if tt.fold != "" || tt.count == 0 && tt.names == "" {
				if f := Fold(got); f != tt.fold {
					t.Errorf("Fold = %q, want %q", f, tt.fold)
				}
			}
			again, err := Expand(Fold(got))
			if err != nil || !slices.Equal(again, got) {
				t.Errorf("Expand(Fold) = %d names, %v; want the %d names back", len(again), err, len(got))
			}
		})
	}
}

func TestExpandErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
	}{
		// cs: bad ranges
		{"nova[]", `empty range in "[]"`},
		{"nova[-]", `range "-" in "[-]"`},
		{"nova[A]", `range "A" in "[A]"`},
		{"nova[2-5/a]", "the step is not a number"},
		{"nova[3/2]", "a step needs a range"},
		{"nova[3-/2]", `range "3-/2" in "[3-/2]"`},
		{"nova[-/2]", `range "-/2"`},
		{"nova[4-a/2]", `range "4-a/2"`},
		{"nova[4-3/2]", "the range goes down"},
		{"nova[4-5/-2]", "the step must be 1 or more"},
		{"nova[4-2/-2]", "the range goes down"},
		{"nova[004-002]", "the range goes down"},
		{"nova[3-59/2,102a]", `range "102a"`},
		{"nova[3-59/2,,102]", `empty range in "[3-59/2,,102]"`},
		{"nova" + strings.Repeat("3", 101), "larger than 1e100"},
		{"nova[]p0", "empty range"},
		{"x4nova[4-5/-2]p0", "the step must be 1 or more"},
		{"x4nova" + strings.Repeat("3", 101) + "p0", "larger than 1e100"},
		{"n[1-" + strings.Repeat("9", 101) + "]", "numbers stop at 1e100"},
		// cs: padding length mismatch
		{"n[1-044]", `range "1-044" in "[1-044]": padding length mismatch`},
		{"n[01-044]", "padding length mismatch"},
		{"n[001-44]", "padding length mismatch"},
		{"tronic[0100-660]", `range "0100-660" in "[0100-660]": padding length mismatch`},
		{"n[0-9,1-044]", "padding length mismatch"},
		{"n[030-032,033-99/3,100]", "padding length mismatch"},
		{"prod-0[10-345]", "padding length mismatch"},
		{"prod-02[10-345]", "padding length mismatch"},
		{"0123[0-100]L6", "padding length mismatch"},
		{"0[7-10]", "padding length mismatch"},
		{"0[7-9,10]", "padding length mismatch"},
		{"0[0-10]", "padding length mismatch"},
		{"[0-10]0", "padding length mismatch"},
		{"0[0-10]0", "padding length mismatch"},
		{"n[-001]", "zero padding is not supported in negative ranges"},
		// cs: brackets and operators
		{"nova[3-59/2,102", "[ without ]"},
		{"nova6[", "[ without ]"},
		{"nova6]", `"nova6]": ] without [`},
		{"n6[1-4]]", "] without ["},
		{"n[1-4]0[3-4]", "a bracket right after another"},
		{"n6[1-4][3-4]", "a bracket right after another"},
		{"n6[1-4]56[3-4]", "a bracket right after another"},
		{"[1-30][4-9]p", "a bracket right after another"},
		{"x[1-30]p4-9]", `"p4-9]": ] without [`},
		{"xazer][1-30]p[4-9]", "] without ["},
		{"xa[[zer[1-30]p[4-9]", `range "[zer[1-30"`},
		{"prod-0[01-06/2]0", "digits after a bracket cannot follow a range with a step"},
		{"prod-0[1-7/2,9]0", "cannot follow a range with a step"},
		{"prod-00[1-6/2]0", "cannot follow a range with a step"},
		{"nova3,nova4,,nova6", `missing node set on one side of operator ','`},
		{"nova6,", "missing node set"},
		{"foo!", "operator '!'"},
		{"foo&", "operator '&'"},
		{"foo^", "operator '^'"},
		{"c[1-30]c[1-2]!", "operator '!'"},
		{"!foo", "missing node set"},
		{",foo", "missing node set"},
		{"&foo", "missing node set"},
		{"^foo", "missing node set"},
		{"!c[1-30]c[1-2]", "missing node set"},
		{"!", "missing node set"},
		{",,,", "missing node set"},
		{"foo,,bar", "missing node set"},
		// grifork: the size limit, node groups, wildcards
		{"web[1-1000000]", `"[1-1000000]" holds more than 100000 numbers`},
		{"a[1-1000]b[1-1000]", "expands to more than 100000 names"},
		{"a[1-60000],b[1-60000]", "expands to more than 100000 names"},
		{"@web", `node groups such as "@web" are not supported here`},
		{"a,@web[1-2]", `node groups such as "@web[]"`},
		{"web*", `wildcards such as "web*" are not supported here`},
		{"web[1-2]?", "wildcards"},
		// grifork: what ClusterShell's text rewriting would turn into other names
		{"n[1-2-3]", `range "1-2-3" in "[1-2-3]"`},
		{"n[]5", `empty range in "[]"`},
		{"n[1,]0", `empty range in "[1,]"`},
		{"n[-3]0", `"[-3]0": digits next to a bracket cannot join negative numbers`},
		{"n2[-3--1]", `"2[-3--1]": digits next to a bracket cannot join negative numbers`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := Expand(tt.in)
			if err == nil {
				t.Fatalf("no error, %d names", len(got))
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestFold(t *testing.T) {
	t.Parallel()
	tests := []struct {
		names []string
		want  string
	}{
		{nil, ""},
		{[]string{"web1"}, "web1"},
		{[]string{"web2", "web1", "web2"}, "web[1-2]"},
		{[]string{"n1", "n01"}, "n[1,01]"},
		{[]string{"db", "web", "db"}, "db,web"},
		{[]string{"web03", "web01", "web02", "db1"}, "db1,web[01-03]"},
		{[]string{"a1b1", "a1b2", "a2b1", "a2b2"}, "a[1-2]b[1-2]"},
		{[]string{"10.0.0.1", "10.0.0.2", "10.0.0.3"}, "10.0.0.[1-3]"},
		{[]string{"n" + strings.Repeat("9", 30), "n1" + strings.Repeat("0", 30)}, "n[" + strings.Repeat("9", 30) + "-1" + strings.Repeat("0", 30) + "]"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			t.Parallel()
			if got := Fold(tt.names); got != tt.want {
				t.Errorf("Fold(%q) = %q, want %q", tt.names, got, tt.want)
			}
		})
	}
}

// An irregular set of two numbers per name, large enough to exhaust
// foldBudget, still folds exactly.
func TestFoldIrregular(t *testing.T) {
	t.Parallel()
	var names []string
	for i := range 4000 {
		names = append(names, fmt.Sprintf("r%dn%d", i, (i*7919)%4000))
	}
	got, err := Expand(Fold(names))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	slices.Sort(names)
	if !slices.Equal(got, names) {
		t.Errorf("Expand(Fold) gave %d names, want the %d names back", len(got), len(names))
	}
}
