NAME = 'a-b'
hosts [NAME.gsub('-', '_')]
