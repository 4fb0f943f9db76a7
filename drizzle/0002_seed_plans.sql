-- Seed the purchasable plans. Idempotent: existing rows (matched on plan_id) are left untouched, so
-- prices edited in production are never overwritten by a re-run.
-- Amounts in paise (INR). amount 0 = custom pricing, not purchasable.
INSERT INTO plans (plan_id, name, amount, currency, credits, description, features, is_active) VALUES
  ('basic_plan', 'Basic', 89900, 'INR', 50,
   'Perfect for small hackathons and student-led events',
   ARRAY['50 participants', '5 judges', 'Manual scoring system', 'Basic real-time leaderboard', 'Submission management', 'Email support']::text[],
   true),
  ('business_plan', 'Business', 299900, 'INR', 300,
   'Our most popular plan, with AI-powered scoring',
   ARRAY['300 participants', '20 judges', 'AI website analysis', 'Advanced leaderboard', 'Judge collaboration tools', 'AI scoring assistance', 'Priority support']::text[],
   true),
  ('enterprise_plan', 'Enterprise', 0, 'INR', 0,
   'For large-scale, enterprise-grade hackathons: custom pricing, contact us',
   ARRAY['Unlimited participants', 'Unlimited judges', 'Deep AI analytics', 'Plagiarism detection', 'Custom rubrics and permissions', 'Dedicated account manager', 'SLA-backed support']::text[],
   true)
ON CONFLICT (plan_id) DO NOTHING;
