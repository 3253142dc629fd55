package eval

import "testing"

func TestDisplayPath(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", ""},
		{"/srv/whet/blobs/jobs/job_1/tune/model", "tune/model"},
		{"/srv/whet/blobs/jobs/job_1/tune/model/", "tune/model"},
		{"blob:jobs/job_1/tune/model/", "tune/model"},
		{"blob:jobs/job_1/tune/model/history.json", "tune/model/history.json"},
		{"blob:jobs/job_1/prep/dataset/validation.jsonl", "prep/dataset/validation.jsonl"},
		{"blob:datasets/ds_1/data.jsonl", "data.jsonl"},
		{"/work/shared/assets/models/stories260K", "stories260K"},
		{"/srv/whet/scratch/job_1/score-ab12/in/tune/model", "model"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := DisplayPath(tt.in); got != tt.want {
				t.Errorf("DisplayPath(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
